"""Asking for a license, and the licensing team's decision on the request.

`eligibility_errors` is the one place the program's "who may hold it" rules live: the
request form, `request_license` and `approve` (again, on the approval day) all ask it.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from partners.choices import OpportunityStatus, PartnerStatus
from partners.models import Opportunity, Partner, open_incident_q
from partners.scoping import is_channel_manager, is_licensing_team, is_solution_architect
from partners.services import kept_standing
from partners.text import sentence
from partners.validators import has_line_break

from .. import mails
from ..calendar import add_business_days
from ..choices import CLOUD_HOSTINGS, Hosting, LicenseKind, LicenseState
from ..models import License, LicensePolicy
from .common import (
    lock,
    people,
    policy_of,
    require_licensing_team,
    require_reason,
    require_state,
    save,
    stamp,
    sync,
    tell,
    today,
)

__all__ = [
    "DL_NEEDS_SIGNED_TERM",
    "FORMER_PARTNER",
    "HOSTING_NOT_ALLOWED",
    "IL_NOT_IN_GOOD_STANDING",
    "IL_NOT_RENEWED",
    "NAME_WITH_LINE_BREAK",
    "NOT_OPPORTUNITYS_ARCHITECT",
    "NOT_PARTNERS_CHANNEL_MANAGER",
    "OPEN_INCIDENT",
    "OPPORTUNITY_ONLY_FOR_TRIAL",
    "PROSPECTIVE_ONLY_TRIAL",
    "PROSPECTIVE_TRIAL_BY_LICENSING",
    "SECOND_DL",
    "SECOND_IL",
    "TL_NEEDS_OPPORTUNITY",
    "TL_OPPORTUNITY_HAS_TRIAL",
    "TL_OPPORTUNITY_NOT_APPROVED",
    "TL_OPPORTUNITY_OF_OTHER_PARTNER",
    "approve",
    "check_requester",
    "kinds_requested_by",
    "eligibility_errors",
    "refuse",
    "request_license",
    "validate_request",
]

# Who may act.
NOT_PARTNERS_CHANNEL_MANAGER = (
    "Only a channel manager of {region} or the licensing team may ask for a license for {partner}."
)
NOT_OPPORTUNITYS_ARCHITECT = (
    "Only the solution architect assigned to the opportunity may ask for its Trial license."
)
PROSPECTIVE_TRIAL_BY_LICENSING = (
    "A prospective partner's own Trial license is issued by the licensing team."
)
# Eligibility.
HOSTING_NOT_ALLOWED = "A {kind} cannot be hosted {hosting}: the policy allows {allowed}."
FORMER_PARTNER = "{partner} is a former partner: it may buy a customer license, not a {kind}."
PROSPECTIVE_ONLY_TRIAL = (
    "{partner} is a prospective partner: it may only hold a Trial license for its own evaluation."
)
DL_NEEDS_SIGNED_TERM = "A Demo license needs a signed, unrevoked partnership term covering {on}."
OPEN_INCIDENT = "{partner} has an unresolved compliance incident ({incident})."
SECOND_DL = "{partner} already has a {hosting} Demo license ({license}): one per partner."
IL_NOT_IN_GOOD_STANDING = "An Internal license needs a partner in good standing: {reasons}."
IL_NOT_RENEWED = (
    "An Internal license needs a renewed contract: {partner} has no partnership term "
    "before the current one."
)
SECOND_IL = "{partner} already has an Internal license ({license})."
TL_NEEDS_OPPORTUNITY = "A Trial license is asked for an approved opportunity: choose one."
TL_OPPORTUNITY_NOT_APPROVED = "The opportunity {opportunity} is {status}; it must be approved."
TL_OPPORTUNITY_OF_OTHER_PARTNER = "The opportunity {opportunity} belongs to {owner}, not {partner}."
TL_OPPORTUNITY_HAS_TRIAL = "The opportunity {opportunity} already has a Trial license ({license})."
OPPORTUNITY_ONLY_FOR_TRIAL = "Only a Trial license is asked for an opportunity."
# The names.
NAME_WITH_LINE_BREAK = (
    "The {what} name has a line break: put it on one line on the {page} page, then ask again."
)


def check_requester(by, *, partner: Partner, kind: str, opportunity: Opportunity | None) -> None:
    """Who may ask: the region's channel managers (DL, IL), the opportunity's solution
    architect (TL), the licensing team (everything)."""
    if is_licensing_team(by):
        return
    if kind == LicenseKind.TL:
        if partner.status == PartnerStatus.PROSPECTIVE:
            raise ValidationError(PROSPECTIVE_TRIAL_BY_LICENSING, code="forbidden")
        if not (
            opportunity is not None
            and is_solution_architect(by)
            and opportunity.solution_architect_id == by.pk
        ):
            raise ValidationError(NOT_OPPORTUNITYS_ARCHITECT, code="forbidden")
        return
    if not (is_channel_manager(by) and partner.region.channel_managers.filter(pk=by.pk).exists()):
        raise ValidationError(
            sentence(NOT_PARTNERS_CHANNEL_MANAGER.format(region=partner.region, partner=partner)),
            code="forbidden",
        )


def kinds_requested_by(user) -> tuple[str, ...]:
    """The kinds `check_requester` may let this user ask for (for some partner or
    opportunity): what a request form offers them."""
    if is_licensing_team(user):
        return tuple(LicenseKind.values)
    kinds: tuple[str, ...] = ()
    if is_channel_manager(user):
        kinds += (LicenseKind.DL, LicenseKind.IL)
    if is_solution_architect(user):
        kinds += (LicenseKind.TL,)
    return kinds


def eligibility_errors(
    *,
    partner: Partner,
    policy: LicensePolicy,
    hosting: str,
    opportunity: Opportunity | None,
    on: date,
    exclude_pk: int | None = None,
) -> list[str]:
    """Every reason the partner may not hold this license on `on` (empty: eligible)."""
    kind, errors = policy.kind, []
    others = License.objects.live().filter(partner=partner, policy__kind=kind)
    if exclude_pk:
        others = others.exclude(pk=exclude_pk)

    if hosting not in policy.hosting_list:
        allowed = ", ".join(Hosting(h).label.lower() for h in policy.hosting_list)
        errors.append(
            HOSTING_NOT_ALLOWED.format(
                kind=policy.name, hosting=Hosting(hosting).label.lower(), allowed=allowed
            )
        )
    if partner.status == PartnerStatus.FORMER:
        return [*errors, FORMER_PARTNER.format(partner=partner, kind=policy.name)]
    if partner.status == PartnerStatus.PROSPECTIVE and kind != LicenseKind.TL:
        return [*errors, PROSPECTIVE_ONLY_TRIAL.format(partner=partner)]
    if opportunity is not None and kind != LicenseKind.TL:
        errors.append(OPPORTUNITY_ONLY_FOR_TRIAL)

    if kind == LicenseKind.DL:
        term = partner.term_covering(on)
        if term is None or not term.is_signed(on) or term.is_revoked(on):
            errors.append(DL_NEEDS_SIGNED_TERM.format(on=on))
        incident = partner.incidents.filter(open_incident_q(on)).first()
        if incident:
            errors.append(
                OPEN_INCIDENT.format(partner=partner, incident=incident.get_kind_display())
            )
        same_hosting = (
            others.filter(hosting__in=CLOUD_HOSTINGS)
            if hosting in CLOUD_HOSTINGS
            else others.filter(hosting=Hosting.ON_PREMISES)
        )
        existing = same_hosting.first()
        if existing:
            where = "cloud" if hosting in CLOUD_HOSTINGS else "on-premises"
            errors.append(SECOND_DL.format(partner=partner, hosting=where, license=existing))
    elif kind == LicenseKind.IL:
        result = kept_standing(partner, on=on)
        if not result.good:
            errors.append(IL_NOT_IN_GOOD_STANDING.format(reasons="; ".join(result.reasons)))
        term = partner.term_covering(on)
        if term is not None and not partner.terms.filter(ends_on__lt=term.starts_on).exists():
            errors.append(IL_NOT_RENEWED.format(partner=partner))
        existing = others.first()
        if existing:
            errors.append(SECOND_IL.format(partner=partner, license=existing))
    elif kind == LicenseKind.TL and partner.status != PartnerStatus.PROSPECTIVE:
        if opportunity is None:
            errors.append(TL_NEEDS_OPPORTUNITY)
        else:
            if opportunity.partner_id != partner.pk:
                errors.append(
                    sentence(
                        TL_OPPORTUNITY_OF_OTHER_PARTNER.format(
                            opportunity=opportunity.prospect_name,
                            owner=opportunity.partner,
                            partner=partner,
                        )
                    )
                )
            if opportunity.status != OpportunityStatus.APPROVED:
                errors.append(
                    TL_OPPORTUNITY_NOT_APPROVED.format(
                        opportunity=opportunity.prospect_name,
                        status=opportunity.get_status_display().lower(),
                    )
                )
            # A converted or live trial counts; a refused or cancelled one leaves room.
            trials = License.objects.filter(
                opportunity=opportunity, policy__kind=LicenseKind.TL
            ).exclude(state__in=[LicenseState.REFUSED, LicenseState.CANCELLED])
            if exclude_pk:
                trials = trials.exclude(pk=exclude_pk)
            existing = trials.first()
            if existing:
                errors.append(
                    TL_OPPORTUNITY_HAS_TRIAL.format(
                        opportunity=opportunity.prospect_name, license=existing
                    )
                )
    return errors


def check_names(*, partner: Partner, opportunity: Opportunity | None) -> None:
    """The licensee's name is the partner's or the prospect's, and it goes into the subject
    of every mail about the license: a name on two lines is refused here, not at sending."""
    names = [("partner's", "partner", partner.name)]
    if opportunity is not None:
        names.append(("prospect's", "opportunity", opportunity.prospect_name))
    for what, page, name in names:
        if has_line_break(name):
            raise ValidationError(
                NAME_WITH_LINE_BREAK.format(what=what, page=page), code="line_break"
            )


def validate_request(
    *,
    partner: Partner,
    kind: str,
    by,
    hosting: str | None = None,
    opportunity: Opportunity | None = None,
    on: date | None = None,
) -> tuple[LicensePolicy, str]:
    """Every check of request_license, without writing: the admin form shows its errors."""
    on = on or today()
    policy = policy_of(kind)
    hosting = hosting or policy.default_hosting
    check_requester(by, partner=partner, kind=kind, opportunity=opportunity)
    check_names(partner=partner, opportunity=opportunity)
    errors = eligibility_errors(
        partner=partner, policy=policy, hosting=hosting, opportunity=opportunity, on=on
    )
    if errors:
        raise ValidationError(errors, code="not_eligible")
    return policy, hosting


@transaction.atomic
def request_license(
    *,
    partner: Partner,
    kind: str,
    by,
    hosting: str | None = None,
    opportunity: Opportunity | None = None,
    on: date | None = None,
) -> License:
    """Ask for a license: role and eligibility checked now, and again at approval."""
    on = on or today()
    # Lock the partner so two simultaneous requests cannot both pass "one per partner".
    partner = (
        Partner.objects.select_for_update(of=("self",)).select_related("region").get(pk=partner.pk)
    )
    policy, hosting = validate_request(
        partner=partner, kind=kind, by=by, hosting=hosting, opportunity=opportunity, on=on
    )
    lic = License(
        policy=policy,
        partner=partner,
        opportunity=opportunity,
        licensee_name=opportunity.prospect_name if opportunity else partner.name,
        hosting=hosting,
        state=LicenseState.REQUESTED,
        requested_by=by,
        requested_on=on,
    )
    save(lic, by, "requested")
    return lic


@transaction.atomic
def approve(lic: License, *, by, on: date | None = None) -> License:
    """Approve a requested license.

    1. only the licensing team, only a requested license (row-locked: one approval wins);
    2. eligibility checked again on the approval day;
    3. the provisioning deadline: approval day + the policy's business days, skipping
       weekends and the partner country's public holidays;
    4. the requester is told (written to the outbox in this transaction).
    """
    on = on or today()
    require_licensing_team(by, "approve")
    locked = lock(lic)
    require_state(locked, (LicenseState.REQUESTED,), "approved")
    errors = eligibility_errors(
        partner=locked.partner,
        policy=locked.policy,
        hosting=locked.hosting,
        opportunity=locked.opportunity,
        on=on,
        exclude_pk=locked.pk,
    )
    if errors:
        raise ValidationError(errors, code="not_eligible")
    locked.state = LicenseState.APPROVED
    locked.approved_by = by
    locked.approved_at = stamp(on)
    locked.decided_on = on
    locked.provisioning_due_on = add_business_days(
        on, locked.policy.provisioning_business_days, locked.partner.country.code
    )
    save(
        locked,
        by,
        "approved",
        ["state", "approved_by", "approved_at", "decided_on", "provisioning_due_on"],
    )
    tell(
        mails.request_approved(
            people(locked), decided_on=on, provisioning_due_on=locked.provisioning_due_on
        )
    )
    return sync(lic, locked)


@transaction.atomic
def refuse(lic: License, *, by, reason: str, on: date | None = None) -> License:
    """Refuse a requested license, saying why; the requester is told, with the reason."""
    on = on or today()
    require_licensing_team(by, "refuse")
    reason = require_reason(reason)
    locked = lock(lic)
    require_state(locked, (LicenseState.REQUESTED,), "refused")
    locked.state = LicenseState.REFUSED
    locked.state_reason = reason
    locked.decided_on = on
    save(locked, by, f"refused: {reason}", ["state", "state_reason", "decided_on"])
    tell(mails.request_refused(people(locked), decided_on=on, reason=reason))
    return sync(lic, locked)
