from datetime import timedelta

import pytest

from partners import services
from partners.models import Partner
from tests.factories import TODAY, IncidentFactory, PartnerFactory, TermFactory

pytestmark = pytest.mark.django_db


def assert_standing(partner, expected_reasons):
    """standing() and the queryset filter used by lists must agree on every case."""
    result = services.standing(partner, on=TODAY)
    assert result.reasons == expected_reasons
    assert result.good is (not expected_reasons)
    good_ids = set(Partner.objects.in_good_standing(TODAY).values_list("pk", flat=True))
    assert (partner.pk in good_ids) is result.good


def test_partner_meeting_every_condition_is_in_good_standing(good_partner):
    assert_standing(good_partner, [])
    assert str(services.standing(good_partner, on=TODAY)) == "in good standing"


def test_no_term_covering_the_day_is_named():
    partner = PartnerFactory()
    TermFactory(
        partner=partner, starts_on=TODAY - timedelta(days=400), ends_on=TODAY - timedelta(days=36)
    )
    assert_standing(partner, [services.NO_TERM.format(on=TODAY)])


def test_unsigned_term_is_named():
    term = TermFactory(signed_on=None)
    assert_standing(term.partner, [services.TERM_NOT_SIGNED.format(term=term)])


def test_term_signed_after_the_day_is_not_signed_yet():
    term = TermFactory(signed_on=TODAY + timedelta(days=1))
    assert_standing(term.partner, [services.TERM_NOT_SIGNED.format(term=term)])


def test_revoked_term_is_named_with_who_revoked_it():
    term = TermFactory(revoked_on=TODAY - timedelta(days=3), revoked_by="vendor")
    reason = services.TERM_REVOKED.format(term=term, by="vendor", revoked_on=term.revoked_on)
    assert_standing(term.partner, [reason])
    assert "revoked by the vendor" in reason


def test_revocation_dated_after_the_day_does_not_count_yet():
    term = TermFactory(revoked_on=TODAY + timedelta(days=3), revoked_by="partner")
    assert_standing(term.partner, [])


def test_partner_without_sales_or_delivery_authorization_is_named():
    term = TermFactory(partner=PartnerFactory(sales_authorized_on=None))
    assert_standing(term.partner, [services.NOT_AUTHORIZED.format(on=TODAY)])


def test_delivery_authorization_alone_is_enough():
    partner = PartnerFactory(sales_authorized_on=None, delivery_authorized_on=TODAY)
    TermFactory(partner=partner)
    assert_standing(partner, [])


def test_authorization_dated_in_the_future_does_not_count():
    partner = PartnerFactory(sales_authorized_on=TODAY + timedelta(days=1))
    TermFactory(partner=partner)
    assert_standing(partner, [services.NOT_AUTHORIZED.format(on=TODAY)])


def test_unresolved_compliance_incident_is_named(good_partner):
    incident = IncidentFactory(partner=good_partner, kind="external_access")
    reason = services.OPEN_INCIDENT.format(
        kind="Access by external users", opened_on=incident.opened_on
    )
    assert_standing(good_partner, [reason])


def test_resolved_incident_no_longer_counts(good_partner):
    IncidentFactory(partner=good_partner, resolved_on=TODAY - timedelta(days=1))
    assert_standing(good_partner, [])


def test_unconfirmed_fee_is_named():
    term = TermFactory(fee_confirmed_on=None)
    assert_standing(term.partner, [services.FEE_NOT_CONFIRMED.format(term=term)])


def test_waived_fee_counts_as_settled():
    term = TermFactory(fee_confirmed_on=None, fee_waived=True)
    assert_standing(term.partner, [])


def test_every_failing_condition_is_reported_in_spec_order():
    partner = PartnerFactory(sales_authorized_on=None)
    term = TermFactory(partner=partner, signed_on=None, fee_confirmed_on=None)
    incident = IncidentFactory(partner=partner)
    assert_standing(
        partner,
        [
            services.TERM_NOT_SIGNED.format(term=term),
            services.NOT_AUTHORIZED.format(on=TODAY),
            services.OPEN_INCIDENT.format(kind="License resale", opened_on=incident.opened_on),
            services.FEE_NOT_CONFIRMED.format(term=term),
        ],
    )


def test_standing_is_judged_on_the_given_day(good_partner):
    term = good_partner.terms.get()
    assert services.standing(good_partner, on=term.ends_on).good
    assert not services.standing(good_partner, on=term.ends_on + timedelta(days=1)).good


def test_standing_of_prefetched_partners_costs_no_query(django_assert_num_queries):
    for _ in range(3):
        TermFactory()
    partners = list(Partner.objects.with_standing_data())
    with django_assert_num_queries(0):
        assert all(services.standing(p, on=TODAY).good for p in partners)


def test_partner_with_no_authorization_dates_is_listed_as_not_in_good_standing():
    # Both dates NULL: SQL would say "unknown"; the lists must say "not in good standing".
    partner = PartnerFactory(sales_authorized_on=None, delivery_authorized_on=None)
    TermFactory(partner=partner)
    assert not services.standing(partner, on=TODAY).good
    assert list(Partner.objects.not_in_good_standing(TODAY)) == [partner]
    assert not Partner.objects.in_good_standing(TODAY).exists()


def test_one_authorization_in_the_future_and_the_other_missing_is_not_good():
    partner = PartnerFactory(sales_authorized_on=TODAY + timedelta(days=5))
    TermFactory(partner=partner)
    assert list(Partner.objects.not_in_good_standing(TODAY)) == [partner]
