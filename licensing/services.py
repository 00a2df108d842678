"""The license lifecycle: the one place each licensing rule lives.

Admin forms and actions, Celery tasks, commands and the portal call these functions; none
of them changes a license's state by itself. Each takes the acting user `by` (roles are
checked here), judges every rule on the day `on` (default: today, UTC) and raises
`ValidationError` with a message a user can act on, changing nothing, when it refuses.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, timedelta
from functools import partial

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from partners.choices import PartnerStatus
from partners.models import Opportunity, Partner, open_incident_q
from partners.scoping import (
    is_channel_manager,
    is_licensing_team,
    is_solution_architect,
)
from partners.services import standing, today

from . import signing
from .calendar import add_business_days
from .choices import (
    CLOUD_HOSTINGS,
    ExtensionReason,
    ExtensionState,
    Hosting,
    LicenseKind,
    LicenseState,
)
from .models import (
    Environment,
    Extension,
    Infrastructure,
    License,
    LicensePolicy,
    PlatformRelease,
)

# Who may act.
LICENSING_TEAM_ONLY = "Only the licensing team may {action} a license."
NOT_PARTNERS_CHANNEL_MANAGER = (
    "Only a channel manager of {region} or the licensing team may ask for a license for {partner}."
)
NOT_OPPORTUNITYS_ARCHITECT = (
    "Only the solution architect assigned to the opportunity may ask for its Trial license."
)
PROSPECTIVE_TRIAL_BY_LICENSING = (
    "A prospective partner's own Trial license is issued by the licensing team."
)
NOT_CONVERSION_ARCHITECT = (
    "Only the solution architect assigned to the opportunity validates a Trial conversion."
)
# States.
WRONG_STATE = "This license is {state}: only a {expected} license can be {action}."
REASON_REQUIRED = "Give a reason: it is kept in the license's history."
UNKNOWN_KIND = "Unknown license kind {kind}: choose DL, IL or TL."
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
# Provisioning.
NO_TERM_FOR_END_DATE = (
    "No partnership term of {partner} covers {on}: a {kind} runs to the renewal date."
)
NO_STABLE_RELEASE = "Record a stable platform release before provisioning a cloud license."
MISSING_CONTACT = "{partner} has no {role} contact: add one so the onboarding mail can be sent."
TL_NOT_WON = "The opportunity {opportunity} is {status}: a Trial converts when the deal is won."
# Portal.
INVALID_CODE = (
    "This activation code is not valid. Check the code in your onboarding mail, "
    "or ask your channel manager."
)
REGISTRATION_ID_MALFORMED = (
    "An infrastructure identifier is 6 to 64 letters, digits, dots or dashes, "
    "starting with a letter or digit."
)
REGISTRATION_ID_TAKEN = "This infrastructure identifier is already registered."
UNKNOWN_RELEASE = "Unknown platform release {version}: choose one from the list."
NOT_REGISTERED = "Register the infrastructure on the licensing portal before downloading."

REGISTRATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{5,63}$")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand


class InvalidActivationCode(ValidationError):
    """Wrong, used or inactive code: one generic message, whatever the cause."""

    def __init__(self) -> None:
        super().__init__(INVALID_CODE, code="invalid_activation_code")


def stamp(on: date) -> datetime:
    """A timestamp on the day `on`: now for today, this time of day for another day."""
    return datetime.combine(on, timezone.now().astimezone(UTC).time(), tzinfo=UTC)


def _save(lic: License, by, reason: str, fields: list[str] | None = None) -> None:
    lic._history_user = by
    lic._change_reason = reason
    lic.save(update_fields=fields)


def _locked(lic: License) -> License:
    # The row lock makes concurrent transitions of one license wait for each other, so a
    # second approval re-reads the state and is refused.
    # of=("self",): lock the license row only, not its policy or partner rows.
    return (
        License.objects.select_for_update(of=("self",))
        .select_related("policy", "partner")
        .get(pk=lic.pk)
    )


def _sync(target: License, source: License) -> License:
    """Give the caller's instance the new values, so it never shows a stale state."""
    if target is not source:
        for field in source._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))
    return source


def _require_state(lic: License, expected: tuple[str, ...], action: str) -> None:
    if lic.state not in expected:
        raise ValidationError(
            WRONG_STATE.format(
                state=lic.get_state_display().lower(),
                expected=" or ".join(LicenseState(s).label.lower() for s in expected),
                action=action,
            ),
            code="wrong_state",
        )


def _require_licensing_team(by, action: str) -> None:
    if not is_licensing_team(by):
        raise ValidationError(LICENSING_TEAM_ONLY.format(action=action), code="forbidden")


def _require_reason(reason: str) -> str:
    if not (reason or "").strip():
        raise ValidationError(REASON_REQUIRED, code="reason_required")
    return reason.strip()


def _policy(kind: str) -> LicensePolicy:
    try:
        return LicensePolicy.objects.get(kind=kind)
    except LicensePolicy.DoesNotExist:
        raise ValidationError(UNKNOWN_KIND.format(kind=kind), code="unknown_kind") from None


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
            NOT_PARTNERS_CHANNEL_MANAGER.format(region=partner.region, partner=partner),
            code="forbidden",
        )


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
        result = standing(partner, on=on)
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
                    TL_OPPORTUNITY_OF_OTHER_PARTNER.format(
                        opportunity=opportunity.prospect_name,
                        owner=opportunity.partner,
                        partner=partner,
                    )
                )
            if opportunity.status != "approved":
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
    policy = _policy(kind)
    hosting = hosting or policy.default_hosting
    check_requester(by, partner=partner, kind=kind, opportunity=opportunity)
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
    _save(lic, by, "requested")
    return lic


@transaction.atomic
def approve(lic: License, *, by, on: date | None = None) -> License:
    """Approve a requested license.

    1. only the licensing team, only a requested license (row-locked: one approval wins);
    2. eligibility checked again on the approval day;
    3. the provisioning deadline: approval day + the policy's business days, skipping
       weekends and the partner country's public holidays.
    """
    on = on or today()
    _require_licensing_team(by, "approve")
    locked = _locked(lic)
    _require_state(locked, (LicenseState.REQUESTED,), "approved")
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
    _save(
        locked,
        by,
        "approved",
        ["state", "approved_by", "approved_at", "decided_on", "provisioning_due_on"],
    )
    return _sync(lic, locked)


@transaction.atomic
def refuse(lic: License, *, by, reason: str, on: date | None = None) -> License:
    """Refuse a requested license, saying why."""
    on = on or today()
    _require_licensing_team(by, "refuse")
    reason = _require_reason(reason)
    locked = _locked(lic)
    _require_state(locked, (LicenseState.REQUESTED,), "refused")
    locked.state = LicenseState.REFUSED
    locked.state_reason = reason
    locked.decided_on = on
    _save(locked, by, f"refused: {reason}", ["state", "state_reason", "decided_on"])
    return _sync(lic, locked)


def _end_date(lic: License, on: date) -> date:
    if lic.policy.term_days:
        return on + timedelta(days=lic.policy.term_days)
    term = lic.partner.term_covering(on)
    if term is None:
        raise ValidationError(
            NO_TERM_FOR_END_DATE.format(partner=lic.partner, on=on, kind=lic.policy.name)
        )
    return term.ends_on


@sensitive_variables("symbols")
def new_activation_code() -> str:
    # 16 symbols of 32: 80 random bits, in four groups a person can type.
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(symbols[i : i + 4] for i in range(0, 16, 4))


def _create_infrastructure(lic: License, on: date) -> Infrastructure:
    """Cloud: on the latest stable release, with endpoints and a LifeTime console.
    On-premises: the environments only; the customer registers it on the portal."""
    owner, customer = lic.partner, lic.licensee_name
    infra = Infrastructure(
        name=f"{lic.policy.kind}-{lic.pk} {customer}",
        owner_partner=owner,
        customer_name=customer if customer != owner.name else "",
        hosting=lic.hosting,
    )
    if lic.is_cloud:
        release = PlatformRelease.latest_stable()
        if release is None:
            raise ValidationError(NO_STABLE_RELEASE)
        host = f"{slugify(customer)[:30]}-{lic.policy.kind.lower()}{lic.pk}"
        infra.platform_release = release
        infra.registration_id = f"CLD-{secrets.token_hex(6).upper()}"
        infra.registered_on = on
        infra.lifetime_url = f"https://{host}-lifetime.{settings.CLOUD_DOMAIN}"
    infra.save()
    environments = [
        Environment(
            infrastructure=infra,
            name=name,
            endpoint_url=(
                f"https://{host}-{slugify(name)}.{settings.CLOUD_DOMAIN}" if lic.is_cloud else ""
            ),
        )
        for name in lic.policy.environment_list
    ]
    if lic.is_cloud:
        environments.append(
            Environment(infrastructure=infra, name="LifeTime", endpoint_url=infra.lifetime_url)
        )
    for environment in environments:
        environment.save()  # one by one: each gets its history row
    return infra


@sensitive_variables("locked")
@transaction.atomic
def provision(lic: License, *, by, on: date | None = None) -> License:
    """Provision an approved license.

    1. only the licensing team, only an approved license;
    2. the policy's limits and environments are copied onto the license ("no upgrades":
       a later policy edit never reaches it);
    3. the infrastructure and its environments are created;
    4. a new activation code (the caller shows it once: it is in no history or list);
    5. the onboarding mail to the financial and technical contacts is queued, to leave
       only once this transaction has committed.
    """
    from . import tasks

    on = on or today()
    _require_licensing_team(by, "provision")
    locked = _locked(lic)
    _require_state(locked, (LicenseState.APPROVED,), "provisioned")
    roles = set(locked.partner.contacts.values_list("role", flat=True))
    for role in ("financial", "technical"):
        if role not in roles:
            raise ValidationError(MISSING_CONTACT.format(partner=locked.partner, role=role))
    locked.starts_on = on
    locked.ends_on = locked.original_ends_on = _end_date(locked, on)
    locked.environment_names = ",".join(locked.policy.environment_list)
    locked.limits = locked.policy.limits()
    locked.infrastructure = _create_infrastructure(locked, on)
    locked.activation_code = new_activation_code()
    locked.state = LicenseState.ACTIVE
    locked.provisioned_by = by
    locked.provisioned_at = stamp(on)
    _save(locked, by, "provisioned")
    transaction.on_commit(partial(tasks.send_onboarding_mail.delay, locked.pk))
    return _sync(lic, locked)


@transaction.atomic
def cancel(lic: License, *, by, reason: str, on: date | None = None) -> License:
    """Cancel a live license (requested, approved, active or expired), saying why."""
    on = on or today()
    _require_licensing_team(by, "cancel")
    reason = _require_reason(reason)
    locked = _locked(lic)
    _require_state(
        locked,
        (LicenseState.REQUESTED, LicenseState.APPROVED, LicenseState.ACTIVE, LicenseState.EXPIRED),
        "cancelled",
    )
    locked.state = LicenseState.CANCELLED
    locked.state_reason = reason
    locked.cancelled_on = on
    _save(locked, by, f"cancelled: {reason}", ["state", "state_reason", "cancelled_on"])
    return _sync(lic, locked)


@transaction.atomic
def convert(lic: License, *, by, on: date | None = None) -> License:
    """The solution architect's technical validation of a won Trial: it becomes the
    customer's license."""
    on = on or today()
    locked = _locked(lic)
    if locked.policy.kind != LicenseKind.TL or locked.opportunity is None:
        raise ValidationError("Only a Trial license of an opportunity converts.")
    if locked.opportunity.solution_architect_id != by.pk:
        raise ValidationError(NOT_CONVERSION_ARCHITECT, code="forbidden")
    _require_state(locked, (LicenseState.ACTIVE,), "converted")
    if locked.opportunity.status != "won":
        raise ValidationError(
            TL_NOT_WON.format(
                opportunity=locked.opportunity.prospect_name,
                status=locked.opportunity.get_status_display().lower(),
            )
        )
    locked.state = LicenseState.CONVERTED
    locked.converted_on = on
    locked.conversion_validated_by = by
    _save(locked, by, "converted", ["state", "converted_on", "conversion_validated_by"])
    return _sync(lic, locked)


@sensitive_variables("activation_code", "code")
def register_infrastructure(
    *, activation_code: str, registration_id: str, platform_version: str, on: date | None = None
) -> License:
    """What the licensing portal calls: bind an on-premises infrastructure to its license.

    A wrong code, a used code and the code of a license that is not an active on-premises
    one raise the same InvalidActivationCode; only after a valid code may the caller learn
    that the identifier is malformed or taken, or the release unknown.
    """
    on = on or today()
    code = (activation_code or "").strip().upper()
    # The transaction is opened here, not by a decorator: a decorator's frame would carry
    # the code in its arguments into error reports, past sensitive_variables.
    with transaction.atomic():
        return _register(code, registration_id, platform_version, on)


@sensitive_variables("code")
def _register(code: str, registration_id: str, platform_version: str, on: date) -> License:
    lic = (
        License.objects.select_for_update(of=("self",))
        .select_related("infrastructure")
        .filter(
            activation_code=code,
            state=LicenseState.ACTIVE,
            hosting=Hosting.ON_PREMISES,
            activation_code_used_at__isnull=True,
        )
        .first()
        if code
        else None
    )
    if lic is None or lic.infrastructure is None:
        raise InvalidActivationCode()
    registration_id = (registration_id or "").strip()
    if not REGISTRATION_ID_RE.match(registration_id):
        raise ValidationError({"registration_id": REGISTRATION_ID_MALFORMED})
    infra = lic.infrastructure
    taken = Infrastructure.objects.filter(registration_id__iexact=registration_id).exclude(
        pk=infra.pk
    )
    if taken.exists():
        raise ValidationError({"registration_id": REGISTRATION_ID_TAKEN})
    release = PlatformRelease.objects.filter(version=(platform_version or "").strip()).first()
    if release is None:
        raise ValidationError(
            {"platform_version": UNKNOWN_RELEASE.format(version=platform_version)}
        )
    infra.registration_id = registration_id
    infra.registered_on = on
    infra.platform_release = release
    infra._change_reason = "registered on the licensing portal"
    try:
        with transaction.atomic():
            infra.save(update_fields=["registration_id", "registered_on", "platform_release"])
    except IntegrityError:  # registered by someone else a moment ago
        raise ValidationError({"registration_id": REGISTRATION_ID_TAKEN}) from None
    lic.activation_code_used_at = stamp(on)
    lic._change_reason = "infrastructure registered on the licensing portal"
    lic.save(update_fields=["activation_code_used_at"])
    return lic


def license_claims(lic: License) -> dict:
    infra = lic.infrastructure
    return {
        "license_id": lic.pk,
        "license": str(lic),
        "kind": lic.policy.kind,
        "licensee": lic.licensee_name,
        "partner": lic.partner.name,
        "infrastructure_id": infra.registration_id,
        "platform_release": infra.platform_release.version if infra.platform_release else None,
        "environments": [name for name in lic.environment_names.split(",") if name],
        "limits": lic.limits,
        "starts_on": lic.starts_on.isoformat(),
        "ends_on": lic.ends_on.isoformat(),
        "issued_at": timezone.now().astimezone(UTC).isoformat(timespec="seconds"),
    }


def license_file(lic: License) -> bytes:
    """The signed license file of an active license whose infrastructure is registered."""
    if lic.state != LicenseState.ACTIVE:
        raise ValidationError(
            WRONG_STATE.format(
                state=lic.get_state_display().lower(), expected="active", action="downloaded"
            )
        )
    if lic.infrastructure is None or not lic.infrastructure.registration_id:
        raise ValidationError(NOT_REGISTERED)
    return signing.sign_claims(license_claims(lic))


# --- Extensions --------------------------------------------------------------------------

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
OPEN_OPPORTUNITY_STATUSES = ("registered", "accepted", "approved")


def _save_extension(ext: Extension, by, reason: str, fields=None) -> None:
    ext._history_user, ext._change_reason = by, reason
    ext.save(update_fields=fields)


def _reopen(lic: License, *, until: date, by, reason: str) -> None:
    """Active again to `until`, the expiry forgotten (a new one starts its own grace)."""
    lic.state, lic.ends_on, lic.expired_on = LicenseState.ACTIVE, until, None
    _save(lic, by, reason, ["state", "ends_on", "expired_on"])


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
    locked = _locked(lic)
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
    allowed = (ExtensionReason.OPEN_SALES_CYCLE, ExtensionReason.LEGAL_CONSTRAINTS)
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
    _sync(lic, locked)
    return ext


def _locked_extension(ext: Extension) -> Extension:
    return Extension.objects.select_for_update(of=("self",)).get(pk=ext.pk)


@transaction.atomic
def grant_extension(ext: Extension, *, by, on: date | None = None) -> Extension:
    """The licensing team grants a DL/IL extension: the license is active to that date."""
    on = on or today()
    _require_licensing_team(by, "extend")
    locked_ext = _locked_extension(ext)
    if locked_ext.state != ExtensionState.REQUESTED:
        raise ValidationError(
            EXTENSION_NOT_REQUESTED.format(state=locked_ext.get_state_display().lower())
        )
    lic = _locked(locked_ext.license)
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
    _sync(ext, locked_ext)
    return locked_ext


@transaction.atomic
def refuse_extension(ext: Extension, *, by, reason: str, on: date | None = None) -> Extension:
    on = on or today()
    _require_licensing_team(by, "refuse extensions of")
    reason = _require_reason(reason)
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
    _sync(ext, locked_ext)
    return locked_ext


# --- Platform upgrades and the nightly run -----------------------------------------------

UPGRADE_NOT_NEWER = "{release} is not newer than the installed {installed}."
UPGRADE_NOT_STABLE = "{release} is a preview: record upgrades to stable releases only."


@transaction.atomic
def record_upgrade(
    infra: Infrastructure, *, by, release: PlatformRelease | None = None, on: date | None = None
) -> Infrastructure:
    """Record that an infrastructure was upgraded (default: to the latest stable release);
    its history says who recorded it."""
    _require_licensing_team(by, "record upgrades of")
    release = release or PlatformRelease.latest_stable()
    if release is None or not release.is_stable:
        raise ValidationError(UPGRADE_NOT_STABLE.format(release=release))
    installed = infra.platform_release
    if installed and installed.released_on >= release.released_on:
        raise ValidationError(UPGRADE_NOT_NEWER.format(release=release, installed=installed))
    infra.platform_release = release
    infra._history_user, infra._change_reason = by, f"upgraded to {release.version}"
    infra.save(update_fields=["platform_release"])
    return infra


def run_nightly(*, today: date | None = None, progress=None) -> dict:
    """Every nightly check for the day: see licensing/nightly.py."""
    from . import nightly

    return nightly.run_nightly(today=today, progress=progress)
