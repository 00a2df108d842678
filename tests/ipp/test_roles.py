"""What each role may do with the IPP models (partners.roles, synced by ipp 0002_roles)."""

import pytest
from django.contrib.auth.models import Group

from partners import roles

pytestmark = pytest.mark.django_db


def ipp_codenames(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return set(
        group.permissions.filter(content_type__app_label="ipp").values_list("codename", flat=True)
    )


def test_channel_manager_asks_and_records_consent_but_never_decides_or_deletes():
    perms = ipp_codenames(roles.CHANNEL_MANAGER)
    assert {"add_deploymentpermission", "change_deploymentpermission", "add_application"} <= perms
    assert not {p for p in perms if p.startswith("delete_")}
    assert not {p for p in perms if p.endswith("infrastructuretoken")}
    assert "view_deploymentcheck" not in perms


def test_licensing_team_issues_tokens_and_only_reads_the_check_log():
    perms = ipp_codenames(roles.LICENSING_TEAM)
    assert {"add_infrastructuretoken", "add_deploymentpermission", "view_deploymentcheck"} <= perms
    assert "change_deploymentcheck" not in perms and "delete_deploymentcheck" not in perms
    assert not {p for p in perms if "historical" in p and not p.startswith("view_")}


def test_auditor_reads_every_ipp_model_history_included():
    perms = ipp_codenames(roles.AUDITOR)
    for model in ("application", "deploymentpermission", "deploymentcheck", "infrastructuretoken"):
        assert {f"view_{model}", f"view_historical{model}"} <= perms
    assert all(p.startswith("view_") for p in perms)


def test_solution_architect_has_no_ipp_access():
    # Architects see their opportunities and trials, not the partners' IPP ledger.
    assert ipp_codenames(roles.SOLUTION_ARCHITECT) == set()
