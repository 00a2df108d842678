"""The Extension Policy (DL/IL), trial extensions and trial conversion."""

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from licensing import nightly, services
from licensing.choices import ExtensionState, LicenseState
from licensing.models import Extension, License
from partners import roles
from tests.factories import (
    TODAY,
    ContactFactory,
    OpportunityFactory,
    PartnerFactory,
    TermFactory,
    UserFactory,
)
from tests.helpers import refused

pytestmark = pytest.mark.django_db


# `expired` (a cloud Demo license the nightly run expired) and `trial` come from conftest.


def ask(lic, by, **kwargs):
    kwargs.setdefault("reason", "legal_constraints")
    kwargs.setdefault("requested_until", lic.ends_on + timedelta(days=60))
    kwargs.setdefault("on", lic.expired_on)
    return services.request_extension(lic, by=by, **kwargs)


def test_channel_manager_asks_and_the_licensing_team_grants_an_extension(
    expired, channel_manager, licensing_user
):
    until = expired.ends_on + timedelta(days=60)
    ext = ask(expired, channel_manager)
    assert ext.state == ExtensionState.REQUESTED
    expired.refresh_from_db()
    assert expired.state == LicenseState.EXPIRED  # nothing changes until it is granted
    services.grant_extension(ext, by=licensing_user, on=expired.expired_on)
    expired.refresh_from_db()
    assert (expired.state, expired.ends_on, expired.expired_on) == (
        LicenseState.ACTIVE,
        until,
        None,
    )
    assert ext.decided_by == licensing_user
    assert "extended to" in expired.history.latest().history_change_reason


def test_granted_extension_expires_again_after_its_date(expired, channel_manager, licensing_user):
    ext = ask(expired, channel_manager)
    services.grant_extension(ext, by=licensing_user, on=expired.expired_on)
    services.run_nightly(today=ext.requested_until + timedelta(days=1))
    expired.refresh_from_db()
    assert (expired.state, expired.expired_on) == (
        LicenseState.EXPIRED,
        ext.requested_until + timedelta(days=1),
    )


def test_only_an_expired_license_is_extended(partner, channel_manager, provisioned, release):
    lic = provisioned(partner)
    refused(lambda: ask(lic, channel_manager, on=TODAY), "Only an expired Demo or Internal license")
    assert not Extension.objects.exists()


def test_extension_needs_an_extension_policy_reason(expired, channel_manager):
    refused(
        lambda: ask(expired, channel_manager, reason="trial_sales_cycle"),
        "Extension Policy reasons",
    )


def test_open_sales_cycle_needs_an_open_opportunity_of_the_partner(
    expired, channel_manager, partner
):
    refused(
        lambda: ask(expired, channel_manager, reason="open_sales_cycle"),
        "Name the open sales cycle",
    )
    lost = OpportunityFactory(partner=partner, status="lost", closed_on=TODAY)
    refused(
        lambda: ask(expired, channel_manager, reason="open_sales_cycle", opportunity=lost),
        "Name the open sales cycle",
    )
    open_one = OpportunityFactory(partner=partner, status="accepted")
    ext = ask(expired, channel_manager, reason="open_sales_cycle", opportunity=open_one)
    assert ext.opportunity == open_one


def test_extension_is_limited_by_the_policy(expired, channel_manager):
    refused(
        lambda: ask(expired, channel_manager, requested_until=expired.ends_on + timedelta(days=91)),
        "The Extension Policy allows up to",
    )


def test_channel_manager_of_another_region_cannot_ask(expired):
    stranger = UserFactory(roles=[roles.CHANNEL_MANAGER])
    refused(lambda: ask(expired, stranger), "Only a channel manager of")


def test_only_the_licensing_team_decides_and_only_once(expired, channel_manager, licensing_user):
    ext = ask(expired, channel_manager)
    refused(lambda: services.grant_extension(ext, by=channel_manager), "Only the licensing team")
    refused(lambda: ask(expired, channel_manager), "already has an extension request waiting")
    refused(lambda: services.refuse_extension(ext, by=licensing_user, reason=""), "Give a reason")
    services.refuse_extension(
        ext, by=licensing_user, reason="Partnership ends", on=expired.expired_on
    )
    assert ext.state == ExtensionState.REFUSED
    refused(lambda: services.grant_extension(ext, by=licensing_user), "only a requested one")
    expired.refresh_from_db()
    assert expired.state == LicenseState.EXPIRED


# --- a cancelled license's waiting request ------------------------------------------------


def assert_closed_by_cancellation(ext, *, by, on):
    ext.refresh_from_db()
    assert (ext.state, ext.refusal_reason, ext.decided_by, ext.decided_at.date()) == (
        ExtensionState.REFUSED,
        "license cancelled",
        by,
        on,
    )
    latest = ext.history.latest()
    assert (latest.state, latest.history_user, latest.history_change_reason) == (
        ExtensionState.REFUSED,
        by,
        "refused: license cancelled",
    )


def test_cancelling_a_license_by_hand_refuses_its_waiting_extension_request(
    expired, channel_manager, licensing_user
):
    earlier = ask(expired, channel_manager)
    services.refuse_extension(earlier, by=licensing_user, reason="no deal", on=expired.expired_on)
    waiting = ask(expired, channel_manager)
    on = expired.expired_on + timedelta(days=3)

    services.cancel(expired, by=licensing_user, reason="partner left the program", on=on)

    assert_closed_by_cancellation(waiting, by=licensing_user, on=on)
    earlier.refresh_from_db()  # a request decided before keeps its decision
    assert (earlier.refusal_reason, earlier.history.count()) == ("no deal", 2)
    refused(lambda: services.grant_extension(waiting, by=licensing_user, on=on), "is refused")


def test_the_night_that_cancels_after_grace_refuses_the_waiting_extension_request(
    expired, region, channel_manager, provisioned
):
    # Another partner's license, ending 20 days later: expired, but in grace that night.
    other = PartnerFactory(region=region, name="Porto Apps")
    TermFactory(partner=other, starts_on=TODAY - timedelta(days=80))  # the usual one + 20
    for role in ("financial", "technical"):
        ContactFactory(partner=other, role=role)
    other_license = provisioned(other)
    first = ask(expired, channel_manager)
    services.run_nightly(today=other_license.ends_on + timedelta(days=1))
    other_license.refresh_from_db()
    stays = ask(other_license, channel_manager)
    cancel_day = expired.expired_on + timedelta(days=expired.policy.grace_days)

    counts = services.run_nightly(today=cancel_day)

    assert counts["cancelled"] == 1
    expired.refresh_from_db()
    assert (expired.state, expired.cancelled_on) == (LicenseState.CANCELLED, cancel_day)
    assert_closed_by_cancellation(first, by=nightly.system_user(), on=cancel_day)
    stays.refresh_from_db()
    assert (stays.state, stays.history.count()) == (ExtensionState.REQUESTED, 1)


# --- trials ------------------------------------------------------------------------------


def extend_trial(trial, by, until, evaluation="PoC phase 2 agreed with the prospect's CIO"):
    return services.request_extension(
        trial,
        by=by,
        reason="trial_sales_cycle",
        requested_until=until,
        evaluation=evaluation,
        on=TODAY,
    )


def test_architect_extends_an_active_trial_at_once(trial, architect):
    until = trial.ends_on + timedelta(days=30)
    ext = extend_trial(trial, architect, until)
    assert ext.state == ExtensionState.GRANTED and ext.decided_by == architect
    trial.refresh_from_db()
    assert (trial.state, trial.ends_on, trial.original_ends_on) == (
        LicenseState.ACTIVE,
        until,
        TODAY + timedelta(days=30),
    )


def test_architect_extends_an_expired_trial(trial, architect):
    services.run_nightly(today=trial.ends_on + timedelta(days=1))
    trial.refresh_from_db()
    ext = services.request_extension(
        trial,
        by=architect,
        reason="trial_sales_cycle",
        evaluation="Budget approved next month",
        requested_until=trial.ends_on + timedelta(days=40),
        on=trial.ends_on + timedelta(days=2),
    )
    trial.refresh_from_db()
    assert ext.state == ExtensionState.GRANTED and trial.state == LicenseState.ACTIVE


def test_trial_is_never_extended_past_six_months_after_its_original_end(trial, architect):
    limit = trial.original_ends_on + relativedelta(months=6)
    refused(
        lambda: extend_trial(trial, architect, limit + timedelta(days=1)),
        "at most 6 calendar months",
    )
    extend_trial(trial, architect, limit - timedelta(days=30))
    trial.refresh_from_db()
    # A second extension counts from the original end date, not the extended one.
    refused(
        lambda: extend_trial(trial, architect, limit + timedelta(days=1)),
        "at most 6 calendar months",
    )
    extend_trial(trial, architect, limit)


def test_trial_extension_needs_an_evaluation_and_its_own_architect(
    trial, architect, channel_manager, licensing_user
):
    until = trial.ends_on + timedelta(days=10)
    refused(lambda: extend_trial(trial, architect, until, evaluation=" "), "Write the evaluation")
    other = UserFactory(roles=[roles.SOLUTION_ARCHITECT])
    for user in (other, channel_manager, licensing_user):
        refused(
            lambda user=user: extend_trial(trial, user, until),
            "Only the trial's solution architect",
        )
    assert not Extension.objects.exists()


def test_won_deal_waits_for_the_architects_validation_before_conversion(trial, architect):
    opportunity = trial.opportunity
    opportunity.status, opportunity.closed_on = "won", TODAY
    opportunity.save()
    assert list(License.objects.awaiting_conversion()) == [trial]
    trial.refresh_from_db()
    assert trial.state == LicenseState.ACTIVE  # not converted by itself
    services.convert(trial, by=architect, on=TODAY)
    assert trial.state == LicenseState.CONVERTED
    assert not License.objects.awaiting_conversion().exists()
    # A customer license from then on: the nightly run leaves it alone.
    services.run_nightly(today=trial.ends_on + timedelta(days=1))
    trial.refresh_from_db()
    assert trial.state == LicenseState.CONVERTED


def test_lost_deal_leaves_the_trial_to_expire(trial):
    opportunity = trial.opportunity
    opportunity.status, opportunity.closed_on = "lost", TODAY
    opportunity.save()
    assert not License.objects.awaiting_conversion().exists()
    services.run_nightly(today=trial.ends_on + timedelta(days=1))
    trial.refresh_from_db()
    assert trial.state == LicenseState.EXPIRED
