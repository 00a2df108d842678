"""Rules about partners. `standing` is the one place good standing is decided.

`today` is re-exported from `partners.dates` for the callers that import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from .choices import OpportunityStatus, PartnerStatus
from .dates import today
from .incidents import resolve_incident as resolve_incident  # re-exported: the rule lives there
from .models import Opportunity, Partner, Region
from .scoping import is_channel_manager, is_licensing_team

NO_TERM = "no partnership term covers {on}"
TERM_NOT_SIGNED = "the partnership term {term} is not signed"
TERM_REVOKED = "the partnership term {term} was revoked by the {by} on {revoked_on}"
NOT_AUTHORIZED = "neither Sales nor Delivery authorized on {on}"
OPEN_INCIDENT = "unresolved compliance incident: {kind} (opened {opened_on})"
FEE_NOT_CONFIRMED = "the fee of the partnership term {term} is neither confirmed nor waived"
# The history reason of a partner the nightly run marks former.
FORMER_NOT_RENEWED = "former: partnership not renewed"


@dataclass(frozen=True)
class Standing:
    good: bool
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "in good standing" if self.good else "; ".join(self.reasons)


def standing(partner: Partner, *, on: date | None = None) -> Standing:
    """Whether `partner` is in good standing on `on`, naming every condition that fails.

    1. a term covers the day, is signed and is not revoked;
    2. the partner is Sales or Delivery authorized;
    3. no compliance incident is unresolved;
    4. that term's fee is confirmed or waived.

    Reads `partner.terms` and `partner.incidents` through the prefetch cache when present
    (`Partner.objects.with_standing_data()`), so lists pay no query per row.
    """
    on = on or today()
    reasons: list[str] = []
    term = partner.term_covering(on)
    if term is None:
        reasons.append(NO_TERM.format(on=on))
    else:
        if not term.is_signed(on):
            reasons.append(TERM_NOT_SIGNED.format(term=term))
        if term.is_revoked(on):
            reasons.append(
                TERM_REVOKED.format(
                    term=term, by=term.get_revoked_by_display().lower(), revoked_on=term.revoked_on
                )
            )
    if not partner.is_authorized(on):
        reasons.append(NOT_AUTHORIZED.format(on=on))
    for incident in partner.incidents.all():
        if incident.is_open(on):
            reasons.append(
                OPEN_INCIDENT.format(kind=incident.get_kind_display(), opened_on=incident.opened_on)
            )
    if term is not None and not term.fee_settled(on):
        reasons.append(FEE_NOT_CONFIRMED.format(term=term))
    return Standing(good=not reasons, reasons=reasons)


# --- Status: a partner's place in the program, an opportunity's stage ---------------------

NOT_REGIONS_CHANNEL_MANAGER = (
    "Only a channel manager of {region} or the licensing team may change {what}."
)
PARTNER_STATUS_MOVE = "{partner} is {current}: it cannot become {wanted}."
OPPORTUNITY_STATUS_MOVE = "The opportunity {opportunity} is {current}: it cannot become {wanted}."
STATUS_REASON_REQUIRED = "Give a reason: it is kept in the partner's history."

# Which status may follow which. A former partner rejoins as active; the nightly run marks
# a partner former (mark_former_partners) with the same history reason as by hand.
PARTNER_MOVES = {
    PartnerStatus.PROSPECTIVE: {PartnerStatus.ACTIVE},
    PartnerStatus.ACTIVE: {PartnerStatus.FORMER},
    PartnerStatus.FORMER: {PartnerStatus.ACTIVE},
}
OPEN_STATUSES = (
    OpportunityStatus.REGISTERED,
    OpportunityStatus.ACCEPTED,
    OpportunityStatus.APPROVED,
)
OPPORTUNITY_MOVES = {
    OpportunityStatus.REGISTERED: {OpportunityStatus.ACCEPTED, OpportunityStatus.LOST},
    OpportunityStatus.ACCEPTED: {OpportunityStatus.APPROVED, OpportunityStatus.LOST},
    OpportunityStatus.APPROVED: {OpportunityStatus.WON, OpportunityStatus.LOST},
}


def may_keep(user, region: Region) -> bool:
    """The licensing team, or a channel manager of the region: who keeps its records."""
    return is_licensing_team(user) or (
        is_channel_manager(user) and region.channel_managers.filter(pk=user.pk).exists()
    )


def _require_keeper(user, region: Region, what: str) -> None:
    if not may_keep(user, region):
        raise ValidationError(
            NOT_REGIONS_CHANNEL_MANAGER.format(region=region, what=what), code="forbidden"
        )


@transaction.atomic
def set_partner_status(partner: Partner, *, status: str, by, reason: str = "", on=None) -> Partner:
    """Move a partner in the program: prospective → active (joined), active → former
    (partnership not renewed; a reason is required), former → active (rejoined)."""
    locked = Partner.objects.select_for_update(of=("self",)).select_related("region")
    locked = locked.get(pk=partner.pk)
    _require_keeper(by, locked.region, f"the status of {locked}")
    if status not in PARTNER_MOVES.get(locked.status, ()):
        raise ValidationError(
            PARTNER_STATUS_MOVE.format(
                partner=locked,
                current=locked.get_status_display().lower(),
                wanted=PartnerStatus(status).label.lower(),
            ),
            code="wrong_state",
        )
    if status == PartnerStatus.FORMER and not (reason or "").strip():
        raise ValidationError(STATUS_REASON_REQUIRED, code="reason_required")
    locked.status = status
    locked._history_user = by
    label = PartnerStatus(status).label.lower()
    locked._change_reason = f"{label}: {reason.strip()}" if (reason or "").strip() else label
    locked.save(update_fields=["status"])
    partner.status = locked.status
    return locked


@transaction.atomic
def set_opportunity_status(opportunity: Opportunity, *, status: str, by, on=None) -> Opportunity:
    """Move an opportunity to its next stage: registered → accepted → approved (a Trial may
    then be asked for) → won or lost (closed on `on`); an open one may be lost at any stage.
    A won one's trial then waits for its architect's validation."""
    on = on or today()
    locked = Opportunity.objects.select_for_update(of=("self",)).select_related("partner__region")
    locked = locked.get(pk=opportunity.pk)
    _require_keeper(by, locked.partner.region, f"the opportunities of {locked.partner}")
    if status not in OPPORTUNITY_MOVES.get(locked.status, ()):
        raise ValidationError(
            OPPORTUNITY_STATUS_MOVE.format(
                opportunity=locked.prospect_name,
                current=locked.get_status_display().lower(),
                wanted=OpportunityStatus(status).label.lower(),
            ),
            code="wrong_state",
        )
    locked.status = status
    fields = ["status"]
    if status in (OpportunityStatus.WON, OpportunityStatus.LOST):
        locked.closed_on = on
        fields.append("closed_on")
    locked._history_user, locked._change_reason = by, OpportunityStatus(status).label.lower()
    locked.save(update_fields=fields)
    opportunity.status, opportunity.closed_on = locked.status, locked.closed_on
    return locked
