"""The nightly run keeps each partner's standing for its day: after every step, every
partner's kept standing equals standing() on that day, including the changes only the
calendar makes (a term starting or ending, dates set in advance) and a missed night."""

from datetime import timedelta

import pytest

from licensing import services
from partners.models import Partner
from partners.services import NO_TERM_KEY, OPEN_INCIDENT_KEY, standing
from tests.factories import TODAY, IncidentFactory, PartnerFactory, TermFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]
NEXT = TODAY + timedelta(days=1)


def assert_kept_everywhere(on):
    for partner in Partner.objects.with_standing_data():
        judged = standing(partner, on=on)
        assert (partner.standing_good, partner.standing_failing) == (
            judged.good,
            judged.failing,
        ), f"{partner} on {on}: kept {partner.standing_failing}, judged {judged.reasons}"


def night(day):
    """The run for `day`, every partner compared with standing() after each step."""
    steps = []

    def after_each_step(message):
        if " done in " in message:
            steps.append(message)
            assert_kept_everywhere(day)

    services.run_nightly(today=day, progress=after_each_step)
    assert steps  # the comparison ran once per step


@pytest.fixture
def calendar_moves(good_partner):
    """Partners whose standing the calendar moves on NEXT, each by one of its dates."""
    ending = PartnerFactory(name="Ending")
    TermFactory(partner=ending, starts_on=NEXT - timedelta(days=365), ends_on=TODAY)
    starting = PartnerFactory(name="Starting")
    TermFactory(partner=starting, starts_on=NEXT)
    resolved = PartnerFactory(name="Resolved in advance")
    TermFactory(partner=resolved)
    IncidentFactory(partner=resolved, resolved_on=NEXT)
    opened = PartnerFactory(name="Incident dated in advance")
    TermFactory(partner=opened)
    IncidentFactory(partner=opened, opened_on=NEXT)
    authorized = PartnerFactory(name="Authorized tomorrow", sales_authorized_on=NEXT)
    TermFactory(partner=authorized)
    fee = PartnerFactory(name="Fee confirmed tomorrow")
    TermFactory(partner=fee, fee_confirmed_on=NEXT)
    revoked = PartnerFactory(name="Revoked tomorrow")
    TermFactory(partner=revoked, revoked_on=NEXT, revoked_by="partner")
    signed = PartnerFactory(name="Signed tomorrow")
    TermFactory(partner=signed, signed_on=NEXT)
    return {p.name: p for p in Partner.objects.all()}


def test_each_night_keeps_the_standing_the_calendar_moves(calendar_moves):
    assert_kept_everywhere(TODAY)
    night(TODAY)
    night(NEXT)
    ending = Partner.objects.get(name="Ending")
    assert (ending.standing_good, ending.standing_failing, ending.standing_on) == (
        False,
        [NO_TERM_KEY],
        NEXT,
    )
    assert Partner.objects.get(name="Starting").standing_good
    assert Partner.objects.get(name="Resolved in advance").standing_good
    assert not Partner.objects.get(name="Incident dated in advance").standing_good


def test_a_missed_night_is_caught_up_by_the_next(calendar_moves):
    night(TODAY)
    later = NEXT + timedelta(days=2)  # the nights of NEXT and the day after never ran
    night(later)
    assert not Partner.objects.get(name="Ending").standing_good
    assert Partner.objects.get(name="Starting").standing_good


def test_a_night_run_twice_changes_no_kept_standing(calendar_moves):
    night(TODAY)
    night(NEXT)
    before = list(Partner.objects.order_by("pk").values_list("standing_good", "standing_failing"))
    night(NEXT)
    after = list(Partner.objects.order_by("pk").values_list("standing_good", "standing_failing"))
    assert before == after


def test_an_incident_the_usage_check_opens_is_kept_in_its_transaction(
    provisioned, partner, release
):
    lic = provisioned(partner)
    day = TODAY + timedelta(days=2)
    services.record_usage(
        infrastructure=lic.infrastructure,
        reported_on=day - timedelta(days=1),
        application_objects=2650,
        disk_gb="2.5",
        internal_users=20,
        external_users=0,
        internal_users_by_country={"PT": 20},
        on=day - timedelta(days=1),
    )
    night(day)
    partner.refresh_from_db()
    assert partner.incidents.get().kind == "over_limit"
    assert (partner.standing_good, partner.standing_failing) == (False, [OPEN_INCIDENT_KEY])


def test_a_night_looking_ahead_is_undone_by_tonight_s(calendar_moves):
    later = PartnerFactory(name="Term ends in ten days")
    TermFactory(partner=later, starts_on=TODAY - timedelta(days=300), ends_on=TODAY + timedelta(10))
    night(TODAY)
    night(TODAY + timedelta(days=30))  # run by hand for a later day: its term has ended then
    night(NEXT)
    later.refresh_from_db()
    assert later.standing_good
    assert_kept_everywhere(NEXT)
