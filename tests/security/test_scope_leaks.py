"""What the penetration test of issue 17 found on pages a role may open: rows of another
scope on them (the partner's licenses, an infrastructure's permissions in), a write offered
to a read-only role, and answers that differ between "outside your scope" and "no such"."""

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from ipp.models import DeploymentCheck, DeploymentPermission, InfrastructureToken
from licensing.models import License
from tests.security.world import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build()


def license_url(lic) -> str:
    return reverse("admin:licensing_license_change", args=[lic.pk])


def overview_url(infrastructure) -> str:
    return reverse("admin:ipp_infrastructure_overview", args=[infrastructure.pk])


def check_url(infrastructure) -> str:
    return reverse("admin:ipp_infrastructure_check", args=[infrastructure.pk])


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- 1. The partner page's licenses ------------------------------------------------------


def test_partner_page_lists_only_the_licenses_the_architect_may_see(client, world):
    architect = world.users["sa_a"]
    client.force_login(architect)
    mine = License.objects.filter(opportunity__solution_architect=architect)
    assert mine.count() == 1

    for code in ("a", "b"):
        partner = world.regions[code]["partner"]
        html = page(client, reverse("admin:partners_partner_change", args=[partner.pk]))
        for lic in partner.licenses.all():
            # The same licenses as her own license list: her Trial, not the partner's DL
            # nor another architect's Trial (whose licensee is that architect's prospect).
            assert (license_url(lic) in html) == (lic in mine), lic
        assert "Prospect B" not in html


def test_partner_page_still_lists_every_license_of_the_channel_managers_partner(client, world):
    client.force_login(world.users["cm_a"])
    partner = world.regions["a"]["partner"]
    html = page(client, reverse("admin:partners_partner_change", args=[partner.pk]))
    assert all(license_url(lic) in html for lic in world.regions["a"]["licenses"])


# --- 2. The IPP overview of an infrastructure --------------------------------------------


def test_overview_shows_only_the_permissions_in_the_channel_manager_may_see(client, world):
    a, b = world.regions["a"], world.regions["b"]
    target = a["licenses"][1].infrastructure
    ours = DeploymentPermission.objects.get(target=target, source__owner_partner=a["partner"])
    theirs = DeploymentPermission.objects.get(target=target, source__owner_partner=b["partner"])
    client.force_login(world.users["cm_a"])

    html = page(client, overview_url(target))

    assert reverse("admin:ipp_deploymentpermission_change", args=[ours.pk]) in html
    assert reverse("admin:ipp_deploymentpermission_change", args=[theirs.pk]) not in html
    developer = b["licenses"][0].infrastructure
    consent = theirs.consent_by
    for value in (developer.name, developer.registration_id, "App B", "Partner B", consent.name):
        assert value not in html, value


def test_overview_shows_every_permission_in_to_the_licensing_team(client, world):
    target = world.regions["a"]["licenses"][1].infrastructure
    client.force_login(world.users["lt"])
    html = page(client, overview_url(target))
    for permission in DeploymentPermission.objects.filter(target=target):
        assert reverse("admin:ipp_deploymentpermission_change", args=[permission.pk]) in html
    assert "App B" in html


# --- 8. The overview's check writes: not for a read-only role ----------------------------


def test_auditor_may_not_record_a_deployment_check(client, world):
    target = world.regions["a"]["licenses"][1].infrastructure
    app = world.regions["a"]["application"]
    checks = DeploymentCheck.objects.count()
    client.force_login(world.users["auditor"])

    response = client.post(check_url(target), {"application_key": str(app.key)})

    assert response.status_code == 403
    assert DeploymentCheck.objects.count() == checks
    html = page(client, overview_url(target))
    assert check_url(target) not in html and 'id="ipp-check"' not in html


@pytest.mark.parametrize("role", ["lt", "cm_a"])
def test_roles_that_may_change_ipp_records_run_the_check(client, world, role):
    target = world.regions["a"]["licenses"][1].infrastructure
    app = world.regions["a"]["application"]
    client.force_login(world.users[role])
    assert check_url(target) in page(client, overview_url(target))

    response = client.post(check_url(target), {"application_key": str(app.key)}, follow=True)

    assert response.status_code == 200
    check = DeploymentCheck.objects.order_by("-id").first()
    assert (check.application, check.caller) == (app, f"admin:{role}")
    assert any(t.startswith(f"{app} on ") for t in message_texts(response))


# --- 9. "Outside your scope" answers as "no such" -----------------------------------------


def test_token_issue_answers_the_same_for_another_regions_infrastructure_as_for_none(client, world):
    elsewhere = world.regions["b"]["licenses"][1].infrastructure
    tokens = InfrastructureToken.objects.count()
    for role in ("cm_a", "sa_a"):
        client.force_login(world.users[role])
        answers = {
            client.post(reverse("admin:ipp_infrastructuretoken_issue", args=[pk])).status_code
            for pk in (elsewhere.pk, 999_999)
        }
        assert len(answers) == 1, (role, answers)
    assert InfrastructureToken.objects.count() == tokens


def test_overview_check_answers_another_regions_application_as_an_unknown_key(client, world):
    target = world.regions["a"]["licenses"][1].infrastructure
    theirs = world.regions["b"]["application"]
    checks = DeploymentCheck.objects.count()
    client.force_login(world.users["cm_a"])

    answers = []
    for key in (theirs.key, uuid.uuid4()):
        response = client.post(check_url(target), {"application_key": str(key)}, follow=True)
        assert response.status_code == 200
        assert theirs.name not in response.content.decode()
        answers.append(message_texts(response))

    assert answers[0] == answers[1] == ["Unknown application key."]
    assert DeploymentCheck.objects.count() == checks


def test_permission_transition_answers_the_same_for_any_id_to_a_role_without_ipp(client, world):
    """A solution architect has no IPP permission: an existing permission's id must not get
    another answer (403) than an id that names nothing (404)."""
    permission = DeploymentPermission.objects.filter(state="granted").first()
    client.force_login(world.users["sa_a"])
    answers = {
        client.post(
            reverse("admin:ipp_deploymentpermission_transition", args=[pk, "revoke"]),
            {"reason": "probe"},
        ).status_code
        for pk in (permission.pk, 999_999)
    }
    assert answers == {403}
    assert DeploymentPermission.objects.get(pk=permission.pk).state == "granted"


@pytest.mark.parametrize("view", ["history", "history detail"])
def test_history_of_a_model_the_role_may_not_view_answers_the_same_for_any_id(client, world, view):
    """A channel manager may not view deployment checks: the history of one that exists must
    not answer otherwise (403) than the history of an id that names nothing (a redirect)."""
    check = DeploymentCheck.objects.first()
    client.force_login(world.users["cm_a"])

    def url(pk, version):
        if view == "history":
            return reverse("admin:ipp_deploymentcheck_history", args=[pk])
        return reverse("admin:ipp_deploymentcheck_simple_history", args=[pk, version])

    version = check.history.first().history_id
    answers = {client.get(url(pk, v)).status_code for pk, v in ((check.pk, version), (999_999, 1))}
    assert answers == {403}
