"""The License admin: requests, the transition buttons and actions, lists and secrets."""

from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from licensing import services
from licensing.choices import LicenseState
from licensing.models import License
from tests.factories import (
    TODAY,
    PartnerFactory,
    RegionFactory,
    TermFactory,
    partner_ready_for_licenses,
    provision_license,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

CHANGELIST = "/admin/licensing/license/"
ADD = "/admin/licensing/license/add/"


def change_url(lic) -> str:
    return f"/admin/licensing/license/{lic.pk}/change/"


def transition_url(lic, name) -> str:
    return f"/admin/licensing/license/{lic.pk}/transition/{name}/"


def requested(partner, by, *, kind="DL", hosting=None, on=None) -> License:
    return services.request_license(partner=partner, kind=kind, hosting=hosting, by=by, on=on)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def refreshed(lic) -> License:
    return License.objects.get(pk=lic.pk)


# --- Asking for a license --------------------------------------------------------------------


def test_channel_manager_asks_for_a_demo_license_for_a_partner_of_their_region(
    client, channel_manager, partner
):
    client.force_login(channel_manager)

    response = client.post(
        ADD, {"partner": partner.pk, "kind": "DL", "hosting": "", "opportunity": ""}
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    lic = License.objects.get(partner=partner)
    assert lic.state == LicenseState.REQUESTED
    assert lic.policy.kind == "DL"
    assert lic.hosting == "shared_cloud"  # the Demo policy's default hosting
    assert lic.requested_by == channel_manager
    assert lic.requested_on == TODAY
    assert lic.history.latest().history_user == channel_manager


def test_channel_manager_cannot_ask_for_a_partner_of_another_region(client, channel_manager):
    stranger = partner_ready_for_licenses(region=RegionFactory(code="apac"), name="Far Away Ltd")
    client.force_login(channel_manager)

    response = client.post(
        ADD, {"partner": stranger.pk, "kind": "DL", "hosting": "", "opportunity": ""}
    )

    # The partner is not even a valid choice for her (the form's choices are scoped), and
    # the page says nothing about it.
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert stranger.name not in html
    assert not License.objects.exists()


def test_ineligible_request_comes_back_with_the_services_reason(client, channel_manager, region):
    first_year = PartnerFactory(region=region, name="First Year Lda")
    TermFactory(partner=first_year)  # one term: the contract was never renewed
    client.force_login(channel_manager)

    response = client.post(
        ADD, {"partner": first_year.pk, "kind": "IL", "hosting": "", "opportunity": ""}
    )

    assert response.status_code == 200
    assert escape(services.IL_NOT_RENEWED.format(partner=first_year)) in response.content.decode()
    assert not License.objects.exists()


# --- Transitions on the change page ----------------------------------------------------------


def test_approve_and_refuse_buttons_show_only_to_the_licensing_team(
    client, partner, channel_manager, licensing_user, auditor
):
    lic = requested(partner, channel_manager)

    for user, shown in [(licensing_user, True), (channel_manager, False), (auditor, False)]:
        client.force_login(user)
        response = client.get(change_url(lic))
        assert response.status_code == 200, user
        html = response.content.decode()
        assert ('name="transition-approve"' in html) is shown, user
        assert ('name="transition-refuse"' in html) is shown, user
        assert (transition_url(lic, "approve") in html) is shown, user


def test_channel_manager_cannot_approve_through_the_transition_url(
    client, partner, channel_manager
):
    lic = requested(partner, channel_manager)
    client.force_login(channel_manager)

    response = client.post(transition_url(lic, "approve"), follow=True)

    assert response.redirect_chain[-1][0] == change_url(lic)
    assert escape(services.LICENSING_TEAM_ONLY.format(action="approve")) in (
        response.content.decode()
    )
    lic.refresh_from_db()
    assert lic.state == LicenseState.REQUESTED
    assert lic.approved_by is None


def test_licensing_team_approves_through_the_transition_url(
    client, partner, channel_manager, licensing_user
):
    lic = requested(partner, channel_manager)
    client.force_login(licensing_user)

    response = client.post(transition_url(lic, "approve"), follow=True)

    assert response.redirect_chain[-1][0] == change_url(lic)
    lic.refresh_from_db()
    assert lic.state == LicenseState.APPROVED
    assert lic.approved_by == licensing_user
    # Saturday 2026-11-28 + 3 business days in Portugal: Mon 30, (Tue 1 December is a
    # public holiday), Wed 2, Thu 3.
    assert lic.provisioning_due_on == date(2026, 12, 3)
    assert f"{lic}: approved. Provision by 2026-12-03." in message_texts(response)


def test_transition_url_answers_only_post(client, partner, channel_manager, licensing_user):
    lic = requested(partner, channel_manager)
    client.force_login(licensing_user)

    assert client.get(transition_url(lic, "approve")).status_code == 405
    assert refreshed(lic).state == LicenseState.REQUESTED


def test_provisioning_shows_the_activation_code_once_and_mails_both_contacts(
    client, partner, provisioned, licensing_user, release, django_capture_on_commit_callbacks
):
    lic = provisioned(partner, state="approved")
    client.force_login(licensing_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(transition_url(lic, "provision"))

    assert response.status_code == 200
    lic.refresh_from_db()
    assert lic.state == LicenseState.ACTIVE
    code = lic.activation_code
    assert code
    assert code in response.content.decode()
    assert "no-store" in response["Cache-Control"]  # no browser or proxy keeps the code

    # Afterwards only the masked code is shown, anywhere in the admin.
    change_page = client.get(change_url(lic)).content.decode()
    assert code not in change_page
    assert lic.masked_activation_code in change_page
    assert code[-4:] in change_page
    changelist = client.get(CHANGELIST).content.decode()
    assert str(lic) in changelist
    assert code not in changelist
    history_page = client.get(f"/admin/licensing/license/{lic.pk}/history/").content.decode()
    assert code not in history_page

    # The code is not kept in the license's history, not even as a column.
    historical = License.history.model
    assert "activation_code" not in {f.name for f in historical._meta.get_fields()}
    with connection.cursor() as cursor:
        columns = {
            c.name
            for c in connection.introspection.get_table_description(
                cursor, historical._meta.db_table
            )
        }
    assert "activation_code" not in columns
    assert lic.history.count() == 3  # requested, approved, provisioned
    assert all(not hasattr(row, "activation_code") for row in lic.history.all())

    # The onboarding mail (with the code) went to the financial and the technical contact,
    # and no other mail holds the code (the approval, sent with it, went to the requester).
    contacts = set(partner.contacts.values_list("email", flat=True))
    assert len(contacts) == 2
    with_code = [message for message in mail.outbox if code in message.body]
    assert {address for message in with_code for address in message.to} == contacts
    assert len(with_code) == 2


@pytest.mark.parametrize("name", ["refuse", "cancel"])
def test_refuse_and_cancel_need_a_reason_that_lands_in_the_history(
    client, partner, channel_manager, licensing_user, name
):
    lic = requested(partner, channel_manager)
    client.force_login(licensing_user)

    # "confirm": a cancellation is asked on a page of its own first (see
    # test_admin_daily.py); a refusal ignores it.
    response = client.post(
        transition_url(lic, name), {"reason": "  ", "confirm": "yes"}, follow=True
    )

    assert escape(services.REASON_REQUIRED) in response.content.decode()
    assert refreshed(lic).state == LicenseState.REQUESTED

    client.post(
        transition_url(lic, name),
        {"reason": "duplicate of the partner's old request", "confirm": "yes"},
    )

    lic.refresh_from_db()
    expected = LicenseState.REFUSED if name == "refuse" else LicenseState.CANCELLED
    assert lic.state == expected
    assert lic.state_reason == "duplicate of the partner's old request"
    latest = lic.history.latest()
    assert latest.history_user == licensing_user
    past = "refused" if name == "refuse" else "cancelled"
    assert latest.history_change_reason == f"{past}: duplicate of the partner's old request"


# --- Admin actions ---------------------------------------------------------------------------


def two_requests(partner, channel_manager) -> tuple[License, License]:
    return (
        requested(partner, channel_manager, hosting="shared_cloud"),
        requested(partner, channel_manager, hosting="on_premises"),
    )


def test_approve_selected_action_approves_each_request(
    client, partner, channel_manager, licensing_user
):
    first, second = two_requests(partner, channel_manager)
    client.force_login(licensing_user)

    response = client.post(
        CHANGELIST,
        {"action": "approve_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert refreshed(first).state == LicenseState.APPROVED
    assert refreshed(second).state == LicenseState.APPROVED
    assert "2 licenses approved." in message_texts(response)


def test_approve_selected_action_reports_a_refusal_per_license(
    client, partner, channel_manager, licensing_user
):
    lic = requested(partner, channel_manager)
    services.refuse(lic, by=licensing_user, reason="no budget")
    client.force_login(licensing_user)

    response = client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [lic.pk]}, follow=True
    )

    assert refreshed(lic).state == LicenseState.REFUSED
    assert any(
        text.startswith(f"{lic}: This license is refused") for text in message_texts(response)
    )


def test_refuse_selected_action_asks_for_a_reason_then_applies_it(
    client, partner, channel_manager, licensing_user
):
    first, second = two_requests(partner, channel_manager)
    client.force_login(licensing_user)
    selected = {"action": "refuse_selected", "_selected_action": [first.pk, second.pk]}

    page = client.post(CHANGELIST, selected)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="reason"' in html
    assert str(first) in html and str(second) in html
    assert refreshed(first).state == LicenseState.REQUESTED

    response = client.post(CHANGELIST, {**selected, "reason": "program budget closed"})

    assert response.status_code == 302
    for lic in (first, second):
        lic.refresh_from_db()
        assert lic.state == LicenseState.REFUSED
        assert lic.history.latest().history_change_reason == "refused: program budget closed"


# --- The list --------------------------------------------------------------------------------


def test_overdue_filter_lists_approved_licenses_past_their_deadline(
    client, partner, provisioned, licensing_user
):
    a_month_ago = TODAY - timedelta(days=30)
    late = provisioned(partner, hosting="shared_cloud", on=a_month_ago, state="approved")
    on_time = provisioned(partner, hosting="on_premises", state="approved")
    assert late.provisioning_due_on < TODAY <= on_time.provisioning_due_on
    client.force_login(licensing_user)

    html = client.get(CHANGELIST, {"provisioning": "overdue"}).content.decode()

    assert change_url(late) in html
    assert change_url(on_time) not in html
    assert "overdue" in html


def test_list_puts_requested_licenses_before_active_ones(
    client, partner, channel_manager, provisioned, licensing_user, release
):
    # Asked for first, so newest-first alone would list it last.
    waiting = requested(partner, channel_manager, hosting="on_premises")
    active = provisioned(partner, hosting="shared_cloud")
    client.force_login(licensing_user)

    html = client.get(CHANGELIST).content.decode()

    assert html.index(change_url(waiting)) < html.index(change_url(active))


def make_licenses(n, region, channel_manager, licensing_user, release):
    """n licenses, one per partner, cycling through requested, approved (some overdue),
    active, refused and cancelled."""
    for i in range(n):
        partner = partner_ready_for_licenses(region=region)
        step = i % 6
        lic = provision_license(
            partner,
            kind="IL" if i % 2 else "DL",
            requested_by=channel_manager,
            licensing_user=licensing_user,
            on=TODAY - timedelta(days=20) if step == 2 else TODAY,
            state=("requested", "requested", "approved", "approved", "active", "active")[step],
        )
        if step == 1:
            services.refuse(lic, by=licensing_user, reason="not now")
        if step == 5:
            services.cancel(lic, by=licensing_user, reason="left the program")


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_changelist_query_count_does_not_grow_with_rows(
    client, region, channel_manager, licensing_user, release
):
    client.force_login(licensing_user)
    make_licenses(3, region, channel_manager, licensing_user, release)
    small = changelist_queries(client)
    make_licenses(17, region, channel_manager, licensing_user, release)
    assert License.objects.count() == 20
    assert len(set(License.objects.values_list("state", flat=True))) == 5
    large = changelist_queries(client)

    assert small == large, f"{small} queries for 3 licenses, {large} for 20"
    assert large <= 15


# --- What cannot be done ---------------------------------------------------------------------


def test_posting_the_change_form_does_not_change_the_state(
    client, partner, provisioned, licensing_user
):
    lic = provisioned(partner, state="approved")
    client.force_login(licensing_user)
    client.raise_request_exception = False  # judge the answer the user gets, 500 included

    response = client.post(
        change_url(lic),
        {
            "state": LicenseState.ACTIVE,
            "state_reason": "typed by hand",
            "activation_code": "AAAA-BBBB-CCCC-DDDD",
            "notifications-TOTAL_FORMS": "0",
            "notifications-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )

    lic.refresh_from_db()
    assert lic.state == LicenseState.APPROVED
    assert lic.state_reason == ""
    assert lic.activation_code == ""
    assert lic.history.count() == 2  # requested, approved: nothing written by the POST
    # The POST is turned away or ignored, not answered with a server error.
    assert response.status_code in (200, 302, 403, 405), response.status_code


def test_channel_manager_cannot_post_the_change_form(client, partner, channel_manager):
    lic = requested(partner, channel_manager)
    client.force_login(channel_manager)

    response = client.post(change_url(lic), {"state": LicenseState.ACTIVE})

    assert response.status_code == 403
    assert refreshed(lic).state == LicenseState.REQUESTED


def test_a_license_cannot_be_deleted(client, partner, channel_manager, licensing_user):
    lic = requested(partner, channel_manager)
    client.force_login(licensing_user)

    assert client.get(f"/admin/licensing/license/{lic.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/licensing/license/{lic.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert License.objects.filter(pk=lic.pk).exists()
    assert 'value="delete_selected"' not in client.get(CHANGELIST).content.decode()
