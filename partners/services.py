"""Rules about partners. `standing` is the one place good standing is decided.

`today` is re-exported from `partners.dates` for the callers that import it from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from . import bulk_sql, dashboard_cache
from .choices import IncidentKind, OpportunityStatus, PartnerStatus
from .dates import today
from .incidents import resolve_incident as resolve_incident  # re-exported: the rule lives there
from .models import (
    ComplianceIncident,
    Opportunity,
    Partner,
    PartnershipTerm,
    Region,
    covering_term_q,
    open_incident_q,
    term_covering,
)
from .scoping import is_channel_manager, is_licensing_team
from .text import sentence

NO_TERM = "no partnership term covers {on}"
TERM_NOT_SIGNED = "the partnership term {term} is not signed"
TERM_REVOKED = "the partnership term {term} was revoked by the {by} on {revoked_on}"
NOT_AUTHORIZED = "neither Sales nor Delivery authorized on {on}"
OPEN_INCIDENT = "unresolved compliance incident: {kind} (opened {opened_on})"
FEE_NOT_CONFIRMED = "the fee of the partnership term {term} is neither confirmed nor waived"
# The history reason of a partner the nightly run marks former.
FORMER_NOT_RENEWED = "former: partnership not renewed"


# The failing conditions by name, as kept on the partner (`Partner.standing_failing`): the
# reasons' words carry dates, these do not, so the kept value changes only when a condition does.
NO_TERM_KEY = "no_term"
TERM_NOT_SIGNED_KEY = "term_not_signed"
TERM_REVOKED_KEY = "term_revoked"
NOT_AUTHORIZED_KEY = "not_authorized"
OPEN_INCIDENT_KEY = "open_incident"
FEE_NOT_CONFIRMED_KEY = "fee_not_confirmed"
# An incident's kind in words, as get_kind_display() says it (which rebuilds this mapping
# on every call: a night's standing refresh asks thousands of times).
INCIDENT_KINDS = dict(IncidentKind.choices)


@dataclass(frozen=True)
class Standing:
    good: bool
    reasons: list[str] = field(default_factory=list)
    # One key per reason, in the same order (see NO_TERM_KEY …).
    failing: list[str] = field(default_factory=list)

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
    return judge(partner, terms=partner.terms.all(), incidents=partner.incidents.all(), on=on)


def judge(
    partner: Partner,
    *,
    terms: Iterable[PartnershipTerm],
    incidents: Iterable[ComplianceIncident],
    on: date,
) -> Standing:
    """standing(partner, on=on) from the partner's `terms` and `incidents` as given: all of
    them, or at least those covering `on` and those open on it (the standing refresh reads
    only those, in one query for thousands of partners)."""
    reasons: list[str] = []
    failing: list[str] = []

    def fails(key: str, reason: str) -> None:
        failing.append(key)
        reasons.append(reason)

    term = term_covering(terms, on)
    if term is None:
        fails(NO_TERM_KEY, NO_TERM.format(on=on))
    else:
        if not term.is_signed(on):
            fails(TERM_NOT_SIGNED_KEY, TERM_NOT_SIGNED.format(term=term))
        if term.is_revoked(on):
            fails(
                TERM_REVOKED_KEY,
                TERM_REVOKED.format(
                    term=term, by=term.get_revoked_by_display().lower(), revoked_on=term.revoked_on
                ),
            )
    if not partner.is_authorized(on):
        fails(NOT_AUTHORIZED_KEY, NOT_AUTHORIZED.format(on=on))
    for incident in incidents:
        if incident.is_open(on):
            fails(
                OPEN_INCIDENT_KEY,
                OPEN_INCIDENT.format(
                    kind=INCIDENT_KINDS.get(incident.kind, incident.kind),
                    opened_on=incident.opened_on,
                ),
            )
    if term is not None and not term.fee_settled(on):
        fails(FEE_NOT_CONFIRMED_KEY, FEE_NOT_CONFIRMED.format(term=term))
    return Standing(good=not reasons, reasons=reasons, failing=failing)


# --- Standing kept as data: standing()'s answer for today, on the partner's row --------------

STANDING_FIELDS = ["standing_good", "standing_failing", "standing_on"]
# Partners read, judged and written per round trip by refresh_standing: the partners of a
# night's usage check (2,603 at 200,000 licenses) in one, as the incidents of that night are.
STANDING_BATCH = 5000
# What judge() reads, and nothing else: columns added later to these tables are not read
# (the data migration that fills the kept standing calls refresh_standing too).
_PARTNER_COLUMNS = ("pk", "sales_authorized_on", "delivery_authorized_on", *STANDING_FIELDS)
_TERM_COLUMNS = (
    "pk",
    "partner_id",
    "starts_on",
    "ends_on",
    "signed_on",
    "revoked_on",
    "revoked_by",
    "fee_confirmed_on",
    "fee_waived",
)
_INCIDENT_COLUMNS = ("pk", "partner_id", "kind", "opened_on", "resolved_on")


@transaction.atomic
def refresh_standing(partner_ids: Iterable[int], *, on: date | None = None) -> int:
    """Keep `standing(partner, on=on)` (today by default) on each partner's row, and return
    how many rows changed.

    The partner list's filter, the dashboard's card and IL eligibility read the kept value,
    so it is refreshed in the transaction of every change that can move it: saves and
    deletes of terms, incidents and partners (`partners.apps` connects them), bulk inserts of
    incidents (the nightly usage check), and by the nightly run for what only the calendar
    moves (`refresh_standing_moved`). Each partner's row is locked before its terms and
    incidents are read, so two changes committing at once cannot keep the older answer.
    """
    on = on or today()
    ids = sorted(set(partner_ids))
    changed = 0
    for start in range(0, len(ids), STANDING_BATCH):
        partners = bulk_sql.instances(
            Partner.objects.filter(pk__any=ids[start : start + STANDING_BATCH])
            .order_by("pk")
            .select_for_update(of=("self",)),
            *_PARTNER_COLUMNS,
        )
        if not partners:
            continue
        # Read after the lock: a change committed meanwhile is seen.
        terms, incidents = _standing_data(partners, on)
        stale = []
        for partner in partners:
            result = judge(partner, terms=terms[partner.pk], incidents=incidents[partner.pk], on=on)
            kept = (partner.standing_good, partner.standing_failing, partner.standing_on)
            if kept != (result.good, result.failing, on):
                partner.standing_good, partner.standing_failing = result.good, result.failing
                partner.standing_on = on
                stale.append(partner)
        # Derived columns, left out of the partner's history (Partner.history): the changes
        # that move them are in the history of the terms, incidents and partner themselves.
        # One UPDATE from a table of the new values, however many distinct answers.
        bulk_sql.update(Partner, stale, STANDING_FIELDS)
        changed += len(stale)
    if changed:
        # A bulk update sends no signal: the dashboard counts again once this commits.
        transaction.on_commit(dashboard_cache.data_changed)
    return changed


def _standing_data(partners: list[Partner], on: date) -> tuple[dict, dict]:
    """What `judge` reads of each partner's terms and incidents for `on`, by partner id, in
    one query each: the terms covering `on` and the incidents open on it (the others cannot
    change the answer for that day), as model instances holding what the rule reads.
    Prefetching (`with_standing_data`) builds a queryset per partner and relation, and a
    related manager per partner read it back: 2,400 partners took 0.5 s of 1.3 s."""
    terms: dict[int, list] = {partner.pk: [] for partner in partners}
    incidents: dict[int, list] = {partner.pk: [] for partner in partners}
    for found, rows, columns in (
        (terms, PartnershipTerm.objects.filter(covering_term_q(on)), _TERM_COLUMNS),
        (incidents, ComplianceIncident.objects.filter(open_incident_q(on)), _INCIDENT_COLUMNS),
    ):
        for row in bulk_sql.instances(rows.filter(partner_id__any=found), *columns):
            found[row.partner_id].append(row)
    return terms, incidents


def kept_standing(partner: Partner, *, on: date | None = None) -> Standing:
    """`standing(partner, on=on)`, read from the partner's row when it holds today's answer
    and that answer is good (no query); judged from the terms and incidents otherwise: for
    another day, or to name the failing conditions."""
    on = on or today()
    if on == today() and partner.standing_on is not None and partner.standing_good:
        return Standing(good=True)
    return standing(partner, on=on)


def refresh_standing_moved(*, since: date | None, on: date) -> int:
    """The nightly run's part: refresh the kept standing of the partners whose standing the
    calendar may have moved on a day in (since, on] (every partner when `since` is None, a
    first run): a term starting or ending, a signature, revocation, fee confirmation,
    incident or authorization dated in that window. Returns how many rows changed."""
    if since is None:
        ids = list(Partner.objects.values_list("pk", flat=True))
        return refresh_standing(ids, on=on)

    def dated(*names: str) -> Q:
        q = Q(pk__in=[])
        for name in names:
            q |= Q(**{f"{name}__gt": since, f"{name}__lte": on})
        return q

    # A term that ends on E stops covering on E + 1: E in [since, on).
    terms = PartnershipTerm.objects.filter(
        dated("starts_on", "signed_on", "revoked_on", "fee_confirmed_on")
        | Q(ends_on__gte=since, ends_on__lt=on)
    )
    incidents = ComplianceIncident.objects.filter(dated("opened_on", "resolved_on"))
    # Never kept, or kept for a later day (a run looking ahead): judged again for `on`.
    partners = Partner.objects.filter(
        dated("sales_authorized_on", "delivery_authorized_on")
        | Q(standing_on__isnull=True)
        | Q(standing_on__gt=on)
    )
    ids = (
        set(terms.values_list("partner_id", flat=True))
        | set(incidents.values_list("partner_id", flat=True))
        | set(partners.values_list("pk", flat=True))
    )
    return refresh_standing(ids, on=on)


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
            sentence(NOT_REGIONS_CHANNEL_MANAGER.format(region=region, what=what)), code="forbidden"
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
