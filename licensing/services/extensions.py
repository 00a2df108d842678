"""Extensions (the Extension Policy for Demo and Internal licenses, the sales cycle for
trials) and the conversion of a won trial."""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction

from partners.choices import OpportunityStatus
from partners.models import Opportunity
from partners.scoping import is_solution_architect

from .. import lifecycle, mails
from ..choices import ExtensionReason, ExtensionState, LicenseKind, LicenseState
from ..models import Extension, License
from .common import (
    apply,
    lock,
    people,
    require_licensing_team,
    require_reason,
    require_state,
    stamp,
    sync,
    tell,
    today,
)
from .requests import check_requester

__all__ = [
    "EXTENSION_ALREADY_WAITING",
    "EXTENSION_REASONS",
    "OPEN_OPPORTUNITY_STATUSES",
    "EXTENSION_IN_THE_PAST",
    "EXTENSION_LICENSE_MOVED",
    "EXTENSION_NEEDS_OPPORTUNITY",
    "EXTENSION_NOT_EXPIRED",
    "EXTENSION_NOT_REQUESTED",
    "EXTENSION_TOO_LONG",
    "EXTENSION_WRONG_REASON",
    "NOT_CONVERSION_ARCHITECT",
    "TL_NOT_WON",
    "TRIAL_EXTENSION_BY_ARCHITECT",
    "TRIAL_EXTENSION_NEEDS_EVALUATION",
    "TRIAL_EXTENSION_NOT_LONGER",
    "TRIAL_EXTENSION_STATE",
    "TRIAL_EXTENSION_TOO_LONG",
    "convert",
    "grant_extension",
    "refuse_extension",
    "request_extension",
]

NOT_CONVERSION_ARCHITECT = (
    "Only the solution architect assigned to the opportunity validates a Trial conversion."
)
TL_NOT_WON = "The opportunity {opportunity} is {status}: a Trial converts when the deal is won."
EXTENSION_NOT_EXPIRED = (
    "Only an expired Demo or Internal license can be extended (the Extension Policy); "
    "this one is {state}."
)
EXTENSION_WRONG_REASON = "Choose one of the Extension Policy reasons: {reasons}."
EXTENSION_NEEDS_OPPORTUNITY = "Name the open sales cycle (an open opportunity of {partner})."
EXTENSION_TOO_LONG = "The Extension Policy allows up to {latest} ({days} days after the end)."
EXTENSION_IN_THE_PAST = "The new end date must be after {day}."
EXTENSION_ALREADY_WAITING = "This license already has an extension request waiting."
TRIAL_EXTENSION_BY_ARCHITECT = "Only the trial's solution architect extends it."
TRIAL_EXTENSION_STATE = "Only an active or expired trial can be extended; this one is {state}."
TRIAL_EXTENSION_NEEDS_EVALUATION = "Write the evaluation of the ongoing sales cycle."
TRIAL_EXTENSION_TOO_LONG = (
    "A trial is extended at most {months} calendar months past its original end date "
    "({original}): {latest} at the latest."
)
TRIAL_EXTENSION_NOT_LONGER = "The new end date must be after the current one ({ends_on})."
EXTENSION_NOT_REQUESTED = "This extension is {state}: only a requested one can be decided."
EXTENSION_LICENSE_MOVED = "The license is {state} now: only an expired license is extended."
OPEN_OPPORTUNITY_STATUSES = (
    OpportunityStatus.REGISTERED,
    OpportunityStatus.ACCEPTED,
    OpportunityStatus.APPROVED,
)
# The reasons an extension of each kind may give: the Extension Policy's two for DL and IL,
# the sales cycle for a trial. The request form offers these and no others.
POLICY_REASONS = (ExtensionReason.OPEN_SALES_CYCLE, ExtensionReason.LEGAL_CONSTRAINTS)
EXTENSION_REASONS = {
    LicenseKind.DL: POLICY_REASONS,
    LicenseKind.IL: POLICY_REASONS,
    LicenseKind.TL: (ExtensionReason.TRIAL_SALES_CYCLE,),
}


def _save_extension(ext: Extension, by, reason: str, fields=None) -> None:
    ext._history_user, ext._change_reason = by, reason
    ext.save(update_fields=fields)


def _reopen(lic: License, *, until: date, by, reason: str) -> None:
    apply(lic, lifecycle.extend(lic, until=until, reason=reason), by)


def close_extension_requests(lic: License, *, by, on: date) -> list[Extension]:
    """The license is cancelled: its waiting extension requests are refused ("license
    cancelled"). Called by `cancel` with the license row locked; the nightly run does the
    same in bulk (nightly.steps.cancel_after_grace)."""
    waiting = Extension.objects.select_for_update(of=("self",)).filter(
        license=lic, state=ExtensionState.REQUESTED
    )
    closed = list(waiting)
    for ext in closed:
        change = lifecycle.close_extension_request(ext, by=by, on=on)
        _save_extension(ext, by, change.reason, change.apply(ext))
    return closed


@transaction.atomic
def request_extension(
    lic: License,
    *,
    by,
    reason: str,
    requested_until: date,
    evaluation: str = "",
    opportunity: Opportunity | None = None,
    on: date | None = None,
) -> Extension:
    """Ask to extend a license.

    DL/IL (the Extension Policy): expired, asked by the partner's channel manager (or the
    licensing team) for one of the two reasons, up to the policy's days after the end;
    the licensing team decides. TL: its solution architect, while active or expired, with
    a sales-cycle evaluation, never past the policy's months after the original end date;
    granted at once.
    """
    on = on or today()
    locked = lock(lic)
    policy = locked.policy
    if locked.extensions.filter(state=ExtensionState.REQUESTED).exists():
        raise ValidationError(EXTENSION_ALREADY_WAITING)
    if policy.kind == LicenseKind.TL:
        return _extend_trial(
            locked, lic, by=by, requested_until=requested_until, evaluation=evaluation, on=on
        )

    check_requester(by, partner=locked.partner, kind=policy.kind, opportunity=None)
    if locked.state != LicenseState.EXPIRED:
        raise ValidationError(
            EXTENSION_NOT_EXPIRED.format(state=locked.get_state_display().lower())
        )
    allowed = EXTENSION_REASONS[policy.kind]
    if reason not in allowed:
        raise ValidationError(
            {
                "reason": EXTENSION_WRONG_REASON.format(
                    reasons="; ".join(ExtensionReason(r).label for r in allowed)
                )
            }
        )
    if reason == ExtensionReason.OPEN_SALES_CYCLE and (
        opportunity is None
        or opportunity.partner_id != locked.partner_id
        or opportunity.status not in OPEN_OPPORTUNITY_STATUSES
    ):
        raise ValidationError(
            {"opportunity": EXTENSION_NEEDS_OPPORTUNITY.format(partner=locked.partner)}
        )
    latest = locked.ends_on + timedelta(days=policy.extension_max_days or 0)
    if requested_until > latest:
        raise ValidationError(
            {
                "requested_until": EXTENSION_TOO_LONG.format(
                    latest=latest, days=policy.extension_max_days
                )
            }
        )
    if requested_until < on:
        raise ValidationError({"requested_until": EXTENSION_IN_THE_PAST.format(day=on)})
    ext = Extension(
        license=locked,
        reason=reason,
        opportunity=opportunity if reason == ExtensionReason.OPEN_SALES_CYCLE else None,
        evaluation=evaluation,
        requested_until=requested_until,
        requested_by=by,
        requested_on=on,
    )
    _save_extension(ext, by, "extension requested")
    return ext


def _extend_trial(locked, lic, *, by, requested_until, evaluation, on) -> Extension:
    opportunity = locked.opportunity
    architect_id = opportunity.solution_architect_id if opportunity else None
    if not (is_solution_architect(by) and architect_id == by.pk):
        raise ValidationError(TRIAL_EXTENSION_BY_ARCHITECT, code="forbidden")
    if locked.state not in (LicenseState.ACTIVE, LicenseState.EXPIRED):
        raise ValidationError(
            TRIAL_EXTENSION_STATE.format(state=locked.get_state_display().lower())
        )
    if not (evaluation or "").strip():
        raise ValidationError({"evaluation": TRIAL_EXTENSION_NEEDS_EVALUATION})
    months = locked.policy.extension_max_months or 0
    latest = locked.original_ends_on + relativedelta(months=months)
    if requested_until > latest:
        raise ValidationError(
            {
                "requested_until": TRIAL_EXTENSION_TOO_LONG.format(
                    months=months, original=locked.original_ends_on, latest=latest
                )
            }
        )
    if requested_until <= locked.ends_on or requested_until < on:
        raise ValidationError(
            {"requested_until": TRIAL_EXTENSION_NOT_LONGER.format(ends_on=locked.ends_on)}
        )
    ext = Extension(
        license=locked,
        reason=ExtensionReason.TRIAL_SALES_CYCLE,
        evaluation=evaluation.strip(),
        requested_until=requested_until,
        state=ExtensionState.GRANTED,
        requested_by=by,
        requested_on=on,
        decided_by=by,
        decided_at=stamp(on),
    )
    _save_extension(ext, by, "trial extended by its solution architect")
    _reopen(locked, until=requested_until, by=by, reason=f"trial extended to {requested_until}")
    _tell_granted(locked, ext)
    sync(lic, locked)
    return ext


def _tell_granted(lic: License, ext: Extension) -> None:
    """Whoever asked and both partner contacts hear of the new end date; an on-premises
    license's technical contact gets its new license file from the portal."""
    who = people(lic)
    tell(
        mails.extension_granted(
            who,
            extension_id=ext.pk,
            requester=ext.requested_by.email,
            until=ext.requested_until,
            reason=ext.get_reason_display(),
        ),
        mails.active_again(who, ends_on=ext.requested_until, why=mails.EXTENDED),
    )


def _locked_extension(ext: Extension) -> Extension:
    return Extension.objects.select_for_update(of=("self",)).get(pk=ext.pk)


@transaction.atomic
def grant_extension(ext: Extension, *, by, on: date | None = None) -> Extension:
    """The licensing team grants a DL/IL extension: the license is active to that date."""
    on = on or today()
    require_licensing_team(by, "extend")
    # The license first, then the extension: the order `cancel` and the nightly run lock
    # them in (to close waiting requests), so a grant and a cancellation never deadlock.
    lic = lock(License(pk=ext.license_id))
    locked_ext = _locked_extension(ext)
    if locked_ext.state != ExtensionState.REQUESTED:
        raise ValidationError(
            EXTENSION_NOT_REQUESTED.format(state=locked_ext.get_state_display().lower())
        )
    if lic.state != LicenseState.EXPIRED:
        raise ValidationError(EXTENSION_LICENSE_MOVED.format(state=lic.get_state_display().lower()))
    if locked_ext.requested_until < on:
        raise ValidationError(EXTENSION_IN_THE_PAST.format(day=on))
    locked_ext.state, locked_ext.decided_by, locked_ext.decided_at = (
        ExtensionState.GRANTED,
        by,
        stamp(on),
    )
    _save_extension(locked_ext, by, "granted", ["state", "decided_by", "decided_at"])
    _reopen(
        lic,
        until=locked_ext.requested_until,
        by=by,
        reason=f"extended to {locked_ext.requested_until} ({locked_ext.get_reason_display()})",
    )
    _tell_granted(lic, locked_ext)
    sync(ext, locked_ext)
    return locked_ext


@transaction.atomic
def refuse_extension(ext: Extension, *, by, reason: str, on: date | None = None) -> Extension:
    """The licensing team refuses an extension, saying why; whoever asked is told."""
    on = on or today()
    require_licensing_team(by, "refuse extensions of")
    reason = require_reason(reason)
    locked_ext = _locked_extension(ext)
    if locked_ext.state != ExtensionState.REQUESTED:
        raise ValidationError(
            EXTENSION_NOT_REQUESTED.format(state=locked_ext.get_state_display().lower())
        )
    locked_ext.state, locked_ext.refusal_reason = ExtensionState.REFUSED, reason
    locked_ext.decided_by, locked_ext.decided_at = by, stamp(on)
    _save_extension(
        locked_ext,
        by,
        f"refused: {reason}",
        ["state", "refusal_reason", "decided_by", "decided_at"],
    )
    tell(
        mails.extension_refused(
            people(locked_ext.license),
            extension_id=locked_ext.pk,
            requester=locked_ext.requested_by.email,
            requested_until=locked_ext.requested_until,
            reason=reason,
        )
    )
    sync(ext, locked_ext)
    return locked_ext


@transaction.atomic
def convert(lic: License, *, by, on: date | None = None) -> License:
    """The solution architect's technical validation of a won Trial: it becomes the
    customer's license."""
    on = on or today()
    locked = lock(lic)
    if locked.policy.kind != LicenseKind.TL or locked.opportunity is None:
        raise ValidationError("Only a Trial license of an opportunity converts.")
    if locked.opportunity.solution_architect_id != by.pk:
        raise ValidationError(NOT_CONVERSION_ARCHITECT, code="forbidden")
    require_state(locked, (LicenseState.ACTIVE,), "converted")
    if locked.opportunity.status != OpportunityStatus.WON:
        raise ValidationError(
            TL_NOT_WON.format(
                opportunity=locked.opportunity.prospect_name,
                status=locked.opportunity.get_status_display().lower(),
            )
        )
    apply(locked, lifecycle.convert(locked, by=by, on=on), by)
    return sync(lic, locked)
