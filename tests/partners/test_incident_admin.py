"""The "Resolve" decision on an incident's page and as a list action: the licensing team
only, a note required; an incident opened by the usage check links to its report."""

from datetime import timedelta

import pytest
from django.urls import reverse

from partners import services
from partners.incidents import RESOLUTION_NOTE_REQUIRED, RESOLVE_LICENSING_TEAM_ONLY
from partners.models import ComplianceIncident
from tests.factories import TODAY, IncidentFactory, UserFactory
from tests.licensing.usage_data import licensed, report

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

LIST = reverse("admin:partners_complianceincident_changelist")


def page(incident):
    return reverse("admin:partners_complianceincident_change", args=[incident.pk])


def resolve_url(incident):
    return reverse("admin:partners_complianceincident_transition", args=[incident.pk, "resolve"])


@pytest.fixture
def incident(partner):
    return IncidentFactory(partner=partner, kind="over_limit", opened_on=TODAY - timedelta(5))


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_the_licensing_team_resolves_on_the_page_with_a_note(client, incident, licensing_user):
    client.force_login(licensing_user)
    html = client.get(page(incident)).content.decode()
    assert resolve_url(incident) in html and "How was it resolved?" in html
    response = client.post(resolve_url(incident), {"note": "Users removed."}, follow=True)
    assert "resolved on 2026-11-28" in messages_of(response)
    incident.refresh_from_db()
    assert (incident.resolved_on, incident.resolved_by, incident.resolution) == (
        TODAY,
        licensing_user,
        "Users removed.",
    )
    assert services.standing(incident.partner, on=TODAY).good
    # Resolved: no button any more, the resolution shown.
    html = client.get(page(incident)).content.decode()
    assert resolve_url(incident) not in html and "Users removed." in html


def test_an_empty_note_is_refused_and_said(client, incident, licensing_user):
    client.force_login(licensing_user)
    response = client.post(resolve_url(incident), {"note": "  "}, follow=True)
    assert RESOLUTION_NOTE_REQUIRED in messages_of(response)
    incident.refresh_from_db()
    assert incident.resolved_on is None


def test_a_channel_manager_is_offered_nothing_and_refused(client, incident, channel_manager):
    client.force_login(channel_manager)
    html = client.get(page(incident)).content.decode()
    assert resolve_url(incident) not in html
    assert "resolve_selected" not in client.get(LIST).content.decode()
    response = client.post(resolve_url(incident), {"note": "mine now"}, follow=True)
    assert RESOLVE_LICENSING_TEAM_ONLY in messages_of(response)
    incident.refresh_from_db()
    assert incident.resolved_on is None


def test_the_list_action_resolves_each_selected_incident_once(
    client, partner, incident, licensing_user
):
    done = IncidentFactory(partner=partner, opened_on=TODAY - timedelta(9))
    services.resolve_incident(done, by=licensing_user, note="earlier", on=TODAY - timedelta(2))
    client.force_login(licensing_user)
    selected = {"action": "resolve_selected", "_selected_action": [incident.pk, done.pk]}
    asked = client.post(LIST, selected)
    assert asked.status_code == 200 and "How was it resolved?" in asked.content.decode()
    response = client.post(LIST, {**selected, "note": "Audit call held."}, follow=True)
    assert "already resolved" in messages_of(response)
    incident.refresh_from_db()
    done.refresh_from_db()
    assert incident.resolution == "Audit call held." and done.resolution == "earlier"


def test_an_incident_opened_by_the_usage_check_links_to_its_report(
    client, partner, channel_manager, licensing_user
):
    lic = licensed(partner, by=channel_manager)
    shown = report(lic, 1, aos=2600)
    opened = ComplianceIncident.objects.create(
        partner=partner,
        license=lic,
        kind="over_limit",
        opened_on=TODAY,
        notes="application objects 2600 > limit 2400",
        usage_report=shown,
    )
    client.force_login(licensing_user)
    link = reverse("admin:licensing_usagereport_change", args=[shown.pk])
    assert link in client.get(page(opened)).content.decode()
    assert link in client.get(LIST).content.decode()
    assert client.get(link).status_code == 200


def test_an_auditor_reads_but_is_offered_nothing(client, incident):
    from partners import roles

    auditor = UserFactory(username="audrey", roles=[roles.AUDITOR])
    client.force_login(auditor)
    response = client.get(page(incident))
    assert response.status_code == 200 and resolve_url(incident) not in response.content.decode()
