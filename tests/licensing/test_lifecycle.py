"""The lifecycle rules as pure functions: what each transition does to a license's fields
and the reason its history keeps. A license here is a plain object with the fields a rule
reads; a partner is a real one with its terms and incidents, where standing is judged.

Dates (SPEC "Dates"): `ends_on` is the last valid day; a license expires on the day after
it; an expired one is in grace until `expired_on + grace_days`, that day excluded."""

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from licensing import lifecycle
from licensing.choices import ExtensionState, LicenseState
from licensing.lifecycle import Change
from tests.factories import TODAY, IncidentFactory, PartnerFactory, TermFactory

# `good_partner` (tests/conftest.py) is in good standing on TODAY; its one term (TermFactory's
# default) runs 2026-08-20 to 2027-08-19, and no term follows it.
TERM_ENDS = date(2027, 8, 19)
DAY_AFTER = date(2027, 8, 20)
NEXT_TERM_ENDS = date(2028, 8, 18)  # a next term starting DAY_AFTER (TermFactory: 365 days)


def active_license(ends_on=TERM_ENDS):
    """A license row as the nightly run reads it: active, valid through `ends_on`."""
    return SimpleNamespace(
        state=LicenseState.ACTIVE,
        ends_on=ends_on,
        expired_on=None,
        state_reason="",
        cancelled_on=None,
    )


def expired_license(expired_on=DAY_AFTER):
    """A license the nightly run expired on `expired_on` (its last valid day the day before)."""
    return SimpleNamespace(
        state=LicenseState.EXPIRED,
        ends_on=expired_on - timedelta(days=1),
        expired_on=expired_on,
        state_reason="",
        cancelled_on=None,
    )


def next_term(partner, **kwargs):
    return TermFactory(partner=partner, starts_on=DAY_AFTER, **kwargs)


# --- Change ------------------------------------------------------------------------------


def test_change_apply_sets_the_values_and_the_history_reason_and_returns_the_field_names():
    lic = active_license()
    change = Change({"state": LicenseState.EXPIRED, "expired_on": DAY_AFTER}, "expired: why")

    fields = change.apply(lic)

    assert fields == ["state", "expired_on"]
    assert (lic.state, lic.expired_on) == (LicenseState.EXPIRED, DAY_AFTER)
    assert lic._change_reason == "expired: why"
    assert lic.ends_on == TERM_ENDS  # a field the change does not name is left alone


def test_a_rule_changes_nothing_on_the_license_until_its_change_is_applied():
    lic = active_license()
    before = dict(vars(lic))

    change = lifecycle.expire(lic, because="partner left")

    assert vars(lic) == before
    change.apply(lic)
    assert lic.state == LicenseState.EXPIRED


# --- end_of_term -------------------------------------------------------------------------


def test_end_of_term_is_the_last_day_of_the_term_covering_the_day(good_partner):
    assert lifecycle.end_of_term(good_partner, TODAY) == TERM_ENDS
    assert lifecycle.end_of_term(good_partner, TERM_ENDS) == TERM_ENDS


def test_end_of_term_is_none_when_no_term_covers_the_day(good_partner):
    assert lifecycle.end_of_term(good_partner, DAY_AFTER) is None


# --- renew, expire, renew_or_expire, expire_trial ----------------------------------------


def test_renew_moves_only_the_end_to_the_given_day_and_says_so_in_the_history():
    change = lifecycle.renew(active_license(), until=NEXT_TERM_ENDS)

    assert change.values == {"ends_on": NEXT_TERM_ENDS}  # the state stays active
    assert change.reason == "renewed to 2028-08-18: partner in good standing"


def test_expire_sets_expired_on_to_the_day_after_the_last_valid_day():
    change = lifecycle.expire(active_license(ends_on=TERM_ENDS), because="partner left")

    assert change.values == {"state": LicenseState.EXPIRED, "expired_on": DAY_AFTER}
    assert change.reason == "expired: partner left"


def test_renew_or_expire_renews_to_the_end_of_the_next_term_when_in_good_standing_the_day_after(
    good_partner,
):
    next_term(good_partner)

    change = lifecycle.renew_or_expire(active_license(), good_partner)

    assert change.values == {"ends_on": NEXT_TERM_ENDS}
    assert change.reason == "renewed to 2028-08-18: partner in good standing"


def test_renew_or_expire_expires_naming_every_failing_standing_condition(db):
    partner = PartnerFactory(sales_authorized_on=None)  # neither Sales nor Delivery authorized
    TermFactory(partner=partner)
    next_term(partner, signed_on=None, fee_confirmed_on=None)
    IncidentFactory(partner=partner, opened_on=date(2027, 8, 1))

    change = lifecycle.renew_or_expire(active_license(), partner)

    assert change.values == {"state": LicenseState.EXPIRED, "expired_on": DAY_AFTER}
    assert change.reason == (
        "expired: the partnership term 2027-08-20 – 2028-08-18 is not signed; "
        "neither Sales nor Delivery authorized on 2027-08-20; "
        "unresolved compliance incident: License resale (opened 2027-08-01); "
        "the fee of the partnership term 2027-08-20 – 2028-08-18 is neither confirmed nor waived"
    )


def test_renew_or_expire_expires_when_no_term_covers_the_day_after(good_partner):
    change = lifecycle.renew_or_expire(active_license(), good_partner)

    assert change.values == {"state": LicenseState.EXPIRED, "expired_on": DAY_AFTER}
    assert change.reason == "expired: no partnership term covers 2027-08-20"


def test_renew_or_expire_judges_standing_on_the_day_after_the_end_not_on_the_end(good_partner):
    next_term(good_partner)
    # Open on the last valid day, resolved the day after: the partner is back in time.
    IncidentFactory(partner=good_partner, opened_on=date(2027, 8, 1), resolved_on=DAY_AFTER)
    assert lifecycle.renew_or_expire(active_license(), good_partner).values == {
        "ends_on": NEXT_TERM_ENDS
    }
    # Opened on the day after: the license does not renew.
    IncidentFactory(partner=good_partner, opened_on=DAY_AFTER)
    change = lifecycle.renew_or_expire(active_license(), good_partner)
    assert change.values["state"] == LicenseState.EXPIRED
    assert change.reason == (
        "expired: unresolved compliance incident: License resale (opened 2027-08-20)"
    )


def test_expire_trial_expires_the_day_after_the_end_of_the_trial():
    trial = active_license(ends_on=TODAY + timedelta(days=30))

    change = lifecycle.expire_trial(trial)

    assert change.values == {
        "state": LicenseState.EXPIRED,
        "expired_on": TODAY + timedelta(days=31),
    }
    assert change.reason == "expired: end of the trial"


# --- reactivate, in_grace, back_in_good_standing, extend ---------------------------------


def test_reactivate_makes_the_license_active_to_the_new_end_and_forgets_the_expiry():
    change = lifecycle.reactivate(expired_license(), until=NEXT_TERM_ENDS, reason="by hand")

    assert change.values == {
        "state": LicenseState.ACTIVE,
        "ends_on": NEXT_TERM_ENDS,
        "expired_on": None,
    }
    assert change.reason == "by hand"


def test_in_grace_from_the_expiry_day_to_the_day_before_the_grace_period_ends():
    lic = expired_license(expired_on=DAY_AFTER)

    assert lifecycle.in_grace(lic, grace_days=30, on=DAY_AFTER)
    assert lifecycle.in_grace(lic, grace_days=30, on=DAY_AFTER + timedelta(days=29))


def test_in_grace_the_day_the_grace_period_ends_is_no_longer_in_grace():
    lic = expired_license(expired_on=DAY_AFTER)

    assert not lifecycle.in_grace(lic, grace_days=30, on=DAY_AFTER + timedelta(days=30))
    assert not lifecycle.in_grace(lic, grace_days=30, on=DAY_AFTER + timedelta(days=31))


def test_in_grace_never_with_a_grace_period_of_zero_days():
    assert not lifecycle.in_grace(expired_license(), grace_days=0, on=DAY_AFTER)


@pytest.fixture
def late_fee_partner(good_partner):
    """Its next term starts DAY_AFTER, but the fee is confirmed only on 2027-09-01: not in
    good standing from DAY_AFTER to 2027-08-31, back in it from 2027-09-01."""
    next_term(good_partner, fee_confirmed_on=date(2027, 9, 1))
    return good_partner


def test_back_in_good_standing_reactivates_to_the_end_of_the_term_covering_the_day(
    late_fee_partner,
):
    change = lifecycle.back_in_good_standing(
        expired_license(), late_fee_partner, grace_days=30, on=date(2027, 9, 1)
    )

    assert change.values == {
        "state": LicenseState.ACTIVE,
        "ends_on": NEXT_TERM_ENDS,
        "expired_on": None,
    }
    assert change.reason == "active again to 2028-08-18: back in good standing"


def test_back_in_good_standing_on_the_last_day_of_grace_but_not_the_day_it_ends(
    late_fee_partner,
):
    lic = expired_license(expired_on=DAY_AFTER)
    last_day = DAY_AFTER + timedelta(days=29)

    assert lifecycle.back_in_good_standing(lic, late_fee_partner, grace_days=30, on=last_day)
    assert (
        lifecycle.back_in_good_standing(
            lic, late_fee_partner, grace_days=30, on=last_day + timedelta(days=1)
        )
        is None
    )


def test_back_in_good_standing_is_none_while_the_partner_is_not_in_good_standing(
    late_fee_partner,
):
    within_grace = date(2027, 8, 25)  # the fee is not confirmed yet

    assert (
        lifecycle.back_in_good_standing(
            expired_license(), late_fee_partner, grace_days=30, on=within_grace
        )
        is None
    )


def test_extend_makes_the_license_active_to_the_granted_day_with_the_given_reason():
    until = DAY_AFTER + timedelta(days=60)

    change = lifecycle.extend(expired_license(), until=until, reason="extended to 2027-10-19")

    assert change.values == {"state": LicenseState.ACTIVE, "ends_on": until, "expired_on": None}
    assert change.reason == "extended to 2027-10-19"


# --- cancel, cancel_after_grace, convert -------------------------------------------------


def test_cancel_records_the_teams_reason_and_the_day():
    change = lifecycle.cancel(active_license(), reason="partner left the program", on=TODAY)

    assert change.values == {
        "state": LicenseState.CANCELLED,
        "state_reason": "partner left the program",
        "cancelled_on": TODAY,
    }
    assert change.reason == "cancelled: partner left the program"


def test_cancel_after_grace_names_the_grace_period_and_takes_the_applications_offline():
    on = DAY_AFTER + timedelta(days=30)

    change = lifecycle.cancel_after_grace(expired_license(), grace_days=30, on=on)

    assert change.values == {
        "state": LicenseState.CANCELLED,
        "state_reason": "grace period of 30 days over",
        "cancelled_on": on,
    }
    assert change.reason == "cancelled: grace period of 30 days over (applications offline)"


def test_close_extension_request_refuses_it_because_the_license_is_cancelled():
    team = SimpleNamespace(username="lena")
    waiting = SimpleNamespace(state=ExtensionState.REQUESTED, refusal_reason="")

    change = lifecycle.close_extension_request(waiting, by=team, on=TODAY)

    assert change.values["decided_at"].date() == TODAY
    assert {k: v for k, v in change.values.items() if k != "decided_at"} == {
        "state": ExtensionState.REFUSED,
        "refusal_reason": "license cancelled",
        "decided_by": team,
    }
    assert change.reason == "refused: license cancelled"


def test_convert_records_the_day_and_the_architect_who_validated_it():
    architect = SimpleNamespace(username="sam")

    change = lifecycle.convert(active_license(), by=architect, on=TODAY)

    assert change.values == {
        "state": LicenseState.CONVERTED,
        "converted_on": TODAY,
        "conversion_validated_by": architect,
    }
    assert change.reason == "converted"
