import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission

from partners import roles

pytestmark = pytest.mark.django_db


def codenames(group_name):
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_every_fresh_database_has_the_four_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)


def test_auditor_may_view_every_model_and_nothing_else():
    perms = codenames(roles.AUDITOR)
    for app_label in roles.APPS:
        for model in global_apps.get_app_config(app_label).get_models():
            assert f"{app_label}.view_{model._meta.model_name}" in perms
    assert all(".view_" in p for p in perms)


def test_channel_manager_requests_but_cannot_delete_partners_or_change_policies():
    perms = codenames(roles.CHANNEL_MANAGER)
    assert {"partners.change_partner", "partners.add_partnershipterm"} <= perms
    assert "partners.delete_partner" not in perms
    assert "licensing.change_licensepolicy" not in perms
    assert "licensing.view_licensepolicy" in perms


def test_licensing_team_owns_policies_but_cannot_edit_history():
    perms = codenames(roles.LICENSING_TEAM)
    assert "licensing.change_licensepolicy" in perms
    assert "partners.view_historicalpartner" in perms
    assert not any(p.startswith("partners.change_historical") for p in perms)


def test_solution_architect_reads_partners_only():
    perms = codenames(roles.SOLUTION_ARCHITECT)
    assert "partners.view_partner" in perms
    assert not any(p.startswith("partners.") and ".view_" not in p for p in perms)


def test_sync_is_idempotent_and_repairs_drift():
    group = Group.objects.get(name=roles.AUDITOR)
    group.permissions.add(Permission.objects.get(codename="delete_partner"))
    before = {name: codenames(name) for name in roles.ROLES}
    roles.sync_groups(global_apps)
    roles.sync_groups(global_apps)
    assert "partners.delete_partner" not in codenames(roles.AUDITOR)
    assert {name: codenames(name) for name in roles.ROLES if name != roles.AUDITOR} == {
        name: perms for name, perms in before.items() if name != roles.AUDITOR
    }
