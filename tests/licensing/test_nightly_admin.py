"""The admin side of the nightly jobs: extensions, nightly runs, platform upgrades."""

from datetime import timedelta

import pytest

from licensing import services
from licensing.choices import ExtensionState, LicenseState
from licensing.models import Extension, PlatformRelease
from tests.factories import TODAY, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(expired, channel_manager, time_machine):
    """An extension asked for by the channel manager on the day the license expired."""
    time_machine.move_to(expired.expired_on)
    return services.request_extension(
        expired,
        by=channel_manager,
        reason="legal_constraints",
        requested_until=expired.ends_on + timedelta(days=30),
        on=expired.expired_on,
    )


def extension_form(lic, **extra):
    return {
        "license": lic.pk,
        "reason": "legal_constraints",
        "opportunity": "",
        "requested_until": str(lic.ends_on + timedelta(days=30)),
        "evaluation": "",
        **extra,
    }


def test_channel_manager_requests_an_extension_in_the_admin(
    client, channel_manager, expired, time_machine
):
    time_machine.move_to(expired.expired_on)
    client.force_login(channel_manager)
    response = client.post("/admin/licensing/extension/add/", extension_form(expired))
    assert response.status_code == 302, response.content.decode()[:3000]
    ext = Extension.objects.get()
    assert (ext.state, ext.requested_by) == (ExtensionState.REQUESTED, channel_manager)


def test_extension_form_shows_the_policy_refusal_and_creates_nothing(
    client, channel_manager, expired, time_machine
):
    time_machine.move_to(expired.expired_on)
    client.force_login(channel_manager)
    response = client.post(
        "/admin/licensing/extension/add/",
        extension_form(expired, requested_until=str(expired.ends_on + timedelta(days=200))),
    )
    assert response.status_code == 200
    assert "The Extension Policy allows up to" in response.content.decode()
    assert not Extension.objects.exists()


def test_licensing_team_grants_and_refuses_with_actions(client, licensing_user, expired, requested):
    ext = requested
    client.force_login(licensing_user)
    html = client.get("/admin/licensing/extension/").content.decode()
    assert "Requested" in html
    client.post(
        "/admin/licensing/extension/", {"action": "grant_selected", "_selected_action": [ext.pk]}
    )
    ext.refresh_from_db()
    expired.refresh_from_db()
    assert ext.state == ExtensionState.GRANTED and expired.state == LicenseState.ACTIVE
    page = client.get(f"/admin/licensing/license/{expired.pk}/change/").content.decode()
    assert "extended to" in page  # the license page lists its renewals and extensions


def test_refusing_an_extension_asks_for_a_reason(client, licensing_user, requested):
    ext = requested
    client.force_login(licensing_user)
    page = client.post(
        "/admin/licensing/extension/", {"action": "refuse_selected", "_selected_action": [ext.pk]}
    )
    assert "Why is this extension refused?" in page.content.decode()
    ext.refresh_from_db()
    assert ext.state == ExtensionState.REQUESTED
    client.post(
        "/admin/licensing/extension/",
        {"action": "refuse_selected", "_selected_action": [ext.pk], "reason": "No legal blocker"},
    )
    ext.refresh_from_db()
    assert (ext.state, ext.refusal_reason) == (ExtensionState.REFUSED, "No legal blocker")


def test_channel_manager_cannot_grant(client, channel_manager, requested):
    ext = requested
    client.force_login(channel_manager)
    client.post(
        "/admin/licensing/extension/", {"action": "grant_selected", "_selected_action": [ext.pk]}
    )
    ext.refresh_from_db()
    assert ext.state == ExtensionState.REQUESTED


def test_nightly_runs_list_shows_what_each_run_did(client, auditor, expired):
    client.force_login(auditor)
    html = client.get("/admin/licensing/nightlyrun/").content.decode()
    assert "expired: 1" in html and "Finished" in html
    assert client.get("/admin/licensing/nightlyrun/add/").status_code == 403


def test_infrastructures_behind_the_latest_release_are_marked_until_upgraded(
    client, licensing_user, partner, provisioned
):
    ReleaseFactory(version="11.29.0", released_on=TODAY - timedelta(days=200))
    lic = provisioned(partner)
    client.force_login(licensing_user)
    response = client.post(
        "/admin/licensing/platformrelease/add/",
        {"version": "11.31.0", "released_on": str(TODAY), "is_stable": "on"},
        follow=True,
    )
    assert "1 infrastructure of live Demo and Internal licenses now need an upgrade" in (
        response.content.decode()
    )
    html = client.get("/admin/licensing/infrastructure/?upgrade=needed").content.decode()
    assert lic.infrastructure.registration_id in html and "upgrade" in html
    client.post(
        "/admin/licensing/infrastructure/",
        {"action": "record_upgrade", "_selected_action": [lic.infrastructure_id]},
        follow=True,  # the confirmation names the infrastructure: read it here
    )
    lic.infrastructure.refresh_from_db()
    assert lic.infrastructure.platform_release == PlatformRelease.objects.get(version="11.31.0")
    html = client.get("/admin/licensing/infrastructure/?upgrade=needed").content.decode()
    assert lic.infrastructure.registration_id not in html
    assert lic.infrastructure.history.latest().history_user == licensing_user
