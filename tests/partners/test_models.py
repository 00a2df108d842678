from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from partners import models as pm
from tests.factories import TODAY, ContactFactory, OpportunityFactory, PartnerFactory, TermFactory

pytestmark = pytest.mark.django_db


def test_overlapping_term_is_refused_by_validation_with_a_clear_message(good_partner):
    existing = good_partner.terms.get()
    term = pm.PartnershipTerm(
        partner=good_partner,
        starts_on=existing.ends_on,
        ends_on=existing.ends_on + timedelta(days=300),
    )
    with pytest.raises(ValidationError) as error:
        term.full_clean()
    assert error.value.message_dict["starts_on"] == [pm.TERMS_OVERLAP.format(other=existing)]


def test_overlapping_term_is_refused_by_the_database(good_partner):
    # The database is the last line: a bulk insert or a race skips full_clean().
    existing = good_partner.terms.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        pm.PartnershipTerm.objects.create(
            partner=good_partner,
            starts_on=existing.starts_on + timedelta(days=10),
            ends_on=existing.ends_on + timedelta(days=10),
        )
    assert good_partner.terms.count() == 1


def test_moving_a_term_onto_another_is_refused_by_the_database(good_partner):
    existing = good_partner.terms.get()
    next_term = TermFactory(
        partner=good_partner,
        starts_on=existing.ends_on + timedelta(days=1),
        ends_on=existing.ends_on + timedelta(days=365),
    )
    next_term.starts_on = existing.ends_on
    with pytest.raises(IntegrityError), transaction.atomic():
        next_term.save()


def test_back_to_back_terms_and_other_partners_terms_are_allowed(good_partner):
    existing = good_partner.terms.get()
    follow_up = pm.PartnershipTerm(
        partner=good_partner,
        starts_on=existing.ends_on + timedelta(days=1),
        ends_on=existing.ends_on + timedelta(days=365),
    )
    follow_up.full_clean()
    follow_up.save()
    TermFactory(starts_on=existing.starts_on)  # same dates, another partner
    assert pm.PartnershipTerm.objects.count() == 3


def test_term_longer_than_a_year_is_refused(good_partner):
    term = pm.PartnershipTerm(
        partner=good_partner,
        starts_on=TODAY + timedelta(days=400),
        ends_on=TODAY + timedelta(days=400 + 366),
    )
    with pytest.raises(ValidationError) as error:
        term.full_clean()
    assert "one year at most" in error.value.message_dict["ends_on"][0]


def test_term_ending_before_it_starts_is_refused_by_validation_and_database(good_partner):
    term = pm.PartnershipTerm(
        partner=good_partner,
        starts_on=TODAY + timedelta(days=500),
        ends_on=TODAY + timedelta(days=499),
    )
    with pytest.raises(ValidationError) as error:
        term.full_clean()
    assert pm.TERM_ENDS_BEFORE_START in str(error.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        term.save()


def test_revocation_needs_both_date_and_party(good_partner):
    term = good_partner.terms.get()
    term.revoked_on = TODAY
    with pytest.raises(ValidationError) as error:
        term.full_clean()
    assert error.value.message_dict == {"revoked_by": [pm.REVOKED_BY_REQUIRED]}


def test_one_contact_per_role():
    contact = ContactFactory(role="financial")
    duplicate = pm.Contact(
        partner=contact.partner, role="financial", name="B", email="b@x.example.com"
    )
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert "already has a contact with this role" in str(error.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    ContactFactory(partner=contact.partner, role="technical")
    assert contact.partner.contacts.count() == 2


def test_channel_manager_must_manage_the_partners_region():
    partner = PartnerFactory()
    from tests.factories import UserFactory

    stranger = UserFactory()
    partner.channel_manager = stranger
    with pytest.raises(ValidationError) as error:
        partner.full_clean()
    assert "is not a channel manager of" in error.value.message_dict["channel_manager"][0]
    partner.region.channel_managers.add(stranger)
    partner.full_clean()


def test_won_opportunity_needs_a_closing_date():
    opportunity = OpportunityFactory(status="won")
    with pytest.raises(ValidationError) as error:
        opportunity.full_clean()
    assert "closing date" in error.value.message_dict["closed_on"][0]
