"""The licensing team resolves a compliance incident with a note; the partner's standing
follows, and who resolved it, when and how is kept with its history."""

from datetime import timedelta

import pytest

from partners import services
from partners.incidents import (
    ALREADY_RESOLVED,
    RESOLUTION_NOTE_REQUIRED,
    RESOLVE_LICENSING_TEAM_ONLY,
    RESOLVED_BEFORE_OPENED,
)
from tests.factories import TODAY, IncidentFactory
from tests.helpers import refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(good_partner):
    return IncidentFactory(partner=good_partner, kind="over_limit", opened_on=TODAY - timedelta(3))


def assert_unchanged(incident):
    incident.refresh_from_db()
    assert (incident.resolved_on, incident.resolved_by, incident.resolution) == (None, None, "")
    assert not services.standing(incident.partner, on=TODAY).good


def test_resolving_brings_the_partner_back_into_good_standing(incident, licensing_user):
    partner = incident.partner
    assert not services.standing(partner, on=TODAY).good
    services.resolve_incident(
        incident, by=licensing_user, note="  Extra users removed; call on 27 Nov.  ", on=TODAY
    )
    incident.refresh_from_db()
    assert (incident.resolved_on, incident.resolved_by) == (TODAY, licensing_user)
    assert incident.resolution == "Extra users removed; call on 27 Nov."
    assert services.standing(partner, on=TODAY).good
    # The day before, the incident was still open: the standing of that day does not change.
    assert not services.standing(partner, on=TODAY - timedelta(1)).good
    latest = incident.history.latest()
    assert latest.history_user == licensing_user
    assert latest.history_change_reason == "resolved: Extra users removed; call on 27 Nov."


def test_resolving_defaults_to_today(incident, licensing_user, noon_on_today):
    services.resolve_incident(incident, by=licensing_user, note="fixed")
    incident.refresh_from_db()
    assert incident.resolved_on == TODAY


@pytest.mark.parametrize("who", ["channel_manager", "architect", "auditor"])
def test_only_the_licensing_team_resolves(incident, who, request):
    user = request.getfixturevalue(who)
    refused(
        lambda: services.resolve_incident(incident, by=user, note="ok", on=TODAY),
        RESOLVE_LICENSING_TEAM_ONLY,
    )
    assert_unchanged(incident)


@pytest.mark.parametrize("note", ["", "   ", None])
def test_a_note_is_required(incident, licensing_user, note):
    refused(
        lambda: services.resolve_incident(incident, by=licensing_user, note=note, on=TODAY),
        RESOLUTION_NOTE_REQUIRED,
    )
    assert_unchanged(incident)


def test_an_incident_is_resolved_once(incident, licensing_user):
    services.resolve_incident(incident, by=licensing_user, note="first", on=TODAY - timedelta(1))
    refused(
        lambda: services.resolve_incident(incident, by=licensing_user, note="again", on=TODAY),
        ALREADY_RESOLVED.format(resolved_on=TODAY - timedelta(1)),
    )
    incident.refresh_from_db()
    assert (incident.resolved_on, incident.resolution) == (TODAY - timedelta(1), "first")
    assert incident.history.count() == 2


def test_not_before_it_was_opened(incident, licensing_user):
    early = TODAY - timedelta(4)
    refused(
        lambda: services.resolve_incident(incident, by=licensing_user, note="x", on=early),
        RESOLVED_BEFORE_OPENED.format(opened_on=incident.opened_on, on=early),
    )
    assert_unchanged(incident)


def test_the_dashboard_counts_again_after_a_resolution(
    incident, licensing_user, settings, django_capture_on_commit_callbacks
):
    from partners import dashboard_cache

    before = dashboard_cache.data_version()
    with django_capture_on_commit_callbacks(execute=True):
        services.resolve_incident(incident, by=licensing_user, note="fixed", on=TODAY)
    assert dashboard_cache.data_version() != before
