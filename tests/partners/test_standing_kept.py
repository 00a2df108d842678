"""The standing kept on each partner is standing()'s answer for today after every change
that can move it: terms, incidents, authorizations and fees, by services, admin and saves."""

from datetime import timedelta

import pytest
from django.urls import reverse

from partners import services
from partners.models import Partner
from partners.services import (
    FEE_NOT_CONFIRMED_KEY,
    NO_TERM_KEY,
    NOT_AUTHORIZED_KEY,
    OPEN_INCIDENT_KEY,
    TERM_REVOKED_KEY,
)
from tests.factories import TODAY, IncidentFactory, PartnerFactory, TermFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]


def assert_kept_everywhere(on=TODAY):
    """Every partner's kept standing equals standing() on `on`, condition by condition."""
    for partner in Partner.objects.with_standing_data():
        judged = services.standing(partner, on=on)
        assert (partner.standing_good, partner.standing_failing) == (
            judged.good,
            judged.failing,
        ), f"{partner}: kept {partner.standing_failing}, judged {judged.reasons}"


def kept(partner):
    partner.refresh_from_db()
    return partner.standing_good, partner.standing_failing


def test_a_new_partner_keeps_its_failing_conditions_and_a_term_makes_it_good():
    partner = PartnerFactory()
    assert kept(partner) == (False, [NO_TERM_KEY])
    assert partner.standing_on == TODAY
    TermFactory(partner=partner)
    assert kept(partner) == (True, [])
    assert_kept_everywhere()


def test_an_incident_opened_then_resolved_moves_the_kept_standing(licensing_user, good_partner):
    incident = IncidentFactory(partner=good_partner, opened_on=TODAY - timedelta(days=2))
    assert kept(good_partner) == (False, [OPEN_INCIDENT_KEY])
    assert_kept_everywhere()
    services.resolve_incident(incident, by=licensing_user, note="Resale stopped.", on=TODAY)
    assert kept(good_partner) == (True, [])
    assert_kept_everywhere()


def test_revocation_fee_and_authorization_changes_are_kept_when_saved(good_partner):
    term = good_partner.terms.get()
    term.revoked_on, term.revoked_by = TODAY - timedelta(days=1), "vendor"
    term.save()
    assert kept(good_partner) == (False, [TERM_REVOKED_KEY])
    term.revoked_on, term.revoked_by, term.fee_confirmed_on = None, "", None
    term.save()
    assert kept(good_partner) == (False, [FEE_NOT_CONFIRMED_KEY])
    term.fee_waived = True
    term.save(update_fields=["fee_waived"])
    assert kept(good_partner) == (True, [])
    good_partner.sales_authorized_on = None
    good_partner.save(update_fields=["sales_authorized_on"])
    # The instance the caller holds is refreshed as well.
    assert (good_partner.standing_good, good_partner.standing_failing) == (
        False,
        [NOT_AUTHORIZED_KEY],
    )
    assert_kept_everywhere()


def test_deleting_the_term_or_the_incident_is_kept(good_partner):
    incident = IncidentFactory(partner=good_partner)
    incident.delete()
    assert kept(good_partner) == (True, [])
    good_partner.terms.get().delete()
    assert kept(good_partner) == (False, [NO_TERM_KEY])
    assert_kept_everywhere()


def test_a_future_dated_change_is_not_today_s_answer(good_partner):
    # Resolved in advance: the incident is open today, so the partner is not good today.
    IncidentFactory(
        partner=good_partner, opened_on=TODAY - timedelta(days=3), resolved_on=TODAY + timedelta(1)
    )
    assert kept(good_partner) == (False, [OPEN_INCIDENT_KEY])
    assert_kept_everywhere()


def test_a_status_move_keeps_the_standing(licensing_user, good_partner):
    services.set_partner_status(good_partner, status="former", by=licensing_user, reason="gone")
    assert kept(good_partner) == (True, [])
    assert_kept_everywhere()


def test_a_hand_edit_of_a_term_in_the_admin_is_kept(client, licensing_user, good_partner):
    term = good_partner.terms.get()
    client.force_login(licensing_user)
    url = reverse("admin:partners_partnershipterm_change", args=[term.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(fee_confirmed_on="", fee_waived="")
    data = {k: v for k, v in data.items() if v is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert kept(good_partner) == (False, [FEE_NOT_CONFIRMED_KEY])
    assert_kept_everywhere()


def test_refresh_standing_writes_only_what_changed(good_partner):
    other = PartnerFactory()
    assert services.refresh_standing([good_partner.pk, other.pk]) == 0
    Partner.objects.filter(pk=other.pk).update(standing_good=True, standing_failing=[])
    assert services.refresh_standing([good_partner.pk, other.pk]) == 1
    assert kept(other) == (False, [NO_TERM_KEY])


def test_kept_standing_is_read_for_today_and_judged_for_another_day(good_partner):
    good_partner.refresh_from_db()
    # Today's good answer comes from the row; another day's is judged from the terms.
    assert services.kept_standing(good_partner).good
    later = good_partner.terms.get().ends_on + timedelta(days=1)
    assert services.kept_standing(good_partner, on=later).failing == [NO_TERM_KEY]
