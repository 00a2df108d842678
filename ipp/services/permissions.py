"""Intellectual Property Protection: the one place each IPP rule lives.

The deployment-check API, the admin and the demo data call these functions. Each write
takes the acting user `by` (roles are checked here), judges every rule on the day `on`
(default: today, UTC) and raises `ValidationError` with a message a user can act on,
changing nothing, when it refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from licensing.choices import LicenseKind, LicenseState
from licensing.models import Infrastructure, License
from licensing.services import stamp
from partners.models import Contact
from partners.scoping import is_channel_manager, is_licensing_team
from partners.services import today

from .choices import PermissionState
from .models import Application, DeploymentCheck, DeploymentPermission, InfrastructureToken

# --- Decision reasons --------------------------------------------------------------------
# Decision reasons reach the target's runtime through the API: they name the application,
# the permission number and the target, never the developer's infrastructure or contacts.
OWN_INFRASTRUCTURE = (
    "{application} is developed on {infrastructure}: it may be deployed to any of its environments."
)
ALLOWED_BY_PERMISSION = (
    "Allowed by deployment permission #{permission} (the developer's consent is recorded), "
    "{validity}; {target} holds {license}."
)
NO_PERMISSION = (
    "No deployment permission for {application} to {target}: the developer's channel "
    "manager asks the licensing team for one."
)
NOT_COVERED = (
    "The deployment permissions to {target} from the application's infrastructure "
    "({permissions}) do not cover {application}: ask for a permission that names it."
)
ONLY_REQUESTED = (
    "The deployment permission #{permission} for {application} to {target} was requested on "
    "{requested_on} and is not granted yet."
)
ONLY_REQUESTED_NO_CONSENT = (
    "The deployment permission #{permission} for {application} to {target} was requested on "
    "{requested_on} and is not granted yet; the developer's consent is not recorded either."
)
PERMISSION_REFUSED = (
    "The deployment permission #{permission} for {application} to {target} was refused: {reason}"
)
PERMISSION_REVOKED = (
    "The deployment permission #{permission} for {application} to {target} was revoked: {reason}"
)
PERMISSION_EXPIRED = (
    "The deployment permission #{permission} for {application} to {target} expired on "
    "{expired_on} (it was valid until {valid_until})."
)
NO_CONSENT = (
    "The deployment permission #{permission} for {application} to {target} has no consent of "
    "the developer recorded."
)
NO_TARGET_LICENSE = (
    "{target} holds no active Trial license and no customer license: applications of "
    "other infrastructures may only be deployed there under one."
)
TARGET_TRIAL_ENDED = (
    "{target} holds no active Trial license or customer license: the Trial license "
    "{license} expired on {expired_on}."
)
TARGET_TRIAL_CANCELLED = (
    "{target} holds no active Trial license or customer license: the Trial license "
    "{license} was cancelled on {cancelled_on}."
)
TARGET_TRIAL_NOT_LIVE = (
    "{target} holds no active Trial license or customer license: the Trial license "
    "{license} is {state}."
)

# --- Refusals of the write services -------------------------------------------------------
LICENSING_TEAM_ONLY = "Only the licensing team may {action}."
NOT_SOURCE_CHANNEL_MANAGER = (
    "Only a channel manager of {region} (the region of {partner}, the developer) or the "
    "licensing team may {action}."
)
SOURCE_WITHOUT_OWNER = "{source} has no owner partner: only the licensing team may {action} for it."
SOURCE_WITHOUT_DEVELOPER = (
    "{source} has no owner partner, so no developer can consent: choose the infrastructure "
    "the applications are developed on."
)
SAME_INFRASTRUCTURE = (
    "The target is the source infrastructure: applications always run where they are "
    "developed, no permission is needed."
)
NO_APPLICATIONS = "Choose at least one application to deploy."
APPLICATIONS_NOT_FROM_SOURCE = (
    "{applications} not developed on {source}: a permission covers applications of its "
    "source infrastructure only."
)
ALREADY_REQUESTED = (
    "The deployment permission #{permission} from {source} to {target} already asks for "
    "{applications}: record the consent on it, or wait for the licensing team's decision."
)
WRONG_STATE = "This deployment permission is {state}: only a {expected} one can be {action}."
CONSENT_NOT_BY_DEVELOPER = (
    "{contact} is not a contact of {partner}, the developer that owns {source}: consent "
    "comes from one of {partner}'s contacts."
)
CONSENT_ALREADY_RECORDED = "The consent of {contact} was already recorded on {consent_at}."
CONSENT_REQUIRED = (
    "Record the developer's consent (a contact of {partner}) before granting this permission."
)
VALID_UNTIL_IN_PAST = "The end of validity ({valid_until}) cannot be before today ({on})."
REASON_REQUIRED = "Give a reason: it is kept in the permission's history."
API_NEEDS_REGISTRATION = (
    "{infrastructure} has no registration id yet: the API names an infrastructure by it, "
    "so register it first."
)
ALREADY_REVOKED = "This token was already revoked on {revoked_at}."


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __str__(self) -> str:
        return f"{'allowed' if self.allowed else 'denied'}: {self.reason}"


# --- The decision ------------------------------------------------------------------------


def _name(infrastructure: Infrastructure) -> str:
    return str(infrastructure)


def _license_label(lic: License) -> str:
    return f"{lic.policy.kind}-{lic.pk}"


def _live_target_license(target: Infrastructure, on: date) -> tuple[License | None, str]:
    """The license that lets other infrastructures' applications run on `target`, or the
    reason there is none: an active Trial on or before its last day, or a converted one
    (the customer's license). A Trial past `ends_on` counts as ended even while the
    nightly run has not expired it yet."""
    licenses = list(
        License.objects.filter(infrastructure=target, policy__kind=LicenseKind.TL)
        .select_related("policy")
        .order_by("-id")
    )
    for lic in licenses:
        if lic.state == LicenseState.CONVERTED:
            return lic, ""
        if lic.state == LicenseState.ACTIVE and lic.ends_on is not None and lic.ends_on >= on:
            return lic, ""
    name = _name(target)
    if not licenses:
        return None, NO_TARGET_LICENSE.format(target=name)
    latest = licenses[0]
    if latest.state == LicenseState.CANCELLED:
        return None, TARGET_TRIAL_CANCELLED.format(
            target=name, license=_license_label(latest), cancelled_on=latest.cancelled_on
        )
    if latest.state in (LicenseState.ACTIVE, LicenseState.EXPIRED) and latest.ends_on:
        expired_on = latest.expired_on or latest.ends_on + timedelta(days=1)
        return None, TARGET_TRIAL_ENDED.format(
            target=name, license=_license_label(latest), expired_on=expired_on
        )
    return None, TARGET_TRIAL_NOT_LIVE.format(
        target=name, license=_license_label(latest), state=latest.get_state_display().lower()
    )


def _permission_problem(permission: DeploymentPermission, application, on: date) -> str:
    """Why this permission (covering the application) does not allow it; "" when it does."""
    names = {
        "permission": permission.pk,
        "application": application,
        "target": _name(permission.target),
    }
    if permission.state == PermissionState.REQUESTED:
        template = ONLY_REQUESTED if permission.has_consent else ONLY_REQUESTED_NO_CONSENT
        return template.format(**names, requested_on=permission.requested_on)
    if permission.state == PermissionState.REFUSED:
        return PERMISSION_REFUSED.format(**names, reason=permission.reason or "no reason given")
    if permission.state == PermissionState.REVOKED:
        return PERMISSION_REVOKED.format(**names, reason=permission.reason or "no reason given")
    if not permission.has_consent:
        return NO_CONSENT.format(**names)
    if permission.valid_until is not None and permission.valid_until < on:
        return PERMISSION_EXPIRED.format(
            **names,
            valid_until=permission.valid_until,
            expired_on=permission.valid_until + timedelta(days=1),
        )
    return ""


# The reason reported when no permission allows it: the one closest to allowing it.
_STATE_RANK = {
    PermissionState.GRANTED: 0,
    PermissionState.REQUESTED: 1,
    PermissionState.REVOKED: 2,
    PermissionState.REFUSED: 3,
}


def check_deployment(
    *, application: Application, target: Infrastructure, on: date | None = None
) -> Decision:
    """May `application` be deployed on `target` on the day `on`? Writes nothing.

    1. its own infrastructure (any of its environments): allowed;
    2. otherwise a permission from its infrastructure to `target` that covers it, granted,
       with the developer's consent recorded, not past its `valid_until`;
    3. and `target` holds an active Trial license (not past its last day) or a customer
       license (a converted Trial).
    Every other case is denied, naming the first missing piece.
    """
    on = on or today()
    source = application.developed_in
    if target.pk == source.pk:
        return Decision(
            True, OWN_INFRASTRUCTURE.format(application=application, infrastructure=_name(target))
        )
    permissions = list(
        DeploymentPermission.objects.filter(source=source, target=target)
        .select_related("source", "target", "consent_by")
        .prefetch_related("applications")
        .order_by("-id")
    )
    if not permissions:
        return Decision(False, NO_PERMISSION.format(application=application, target=_name(target)))
    covering = [p for p in permissions if any(a.pk == application.pk for a in p.applications.all())]
    if not covering:
        return Decision(
            False,
            NOT_COVERED.format(
                target=_name(target),
                permissions=", ".join(f"#{p.pk}" for p in permissions),
                application=application,
            ),
        )
    problems = [(p, _permission_problem(p, application, on)) for p in covering]
    valid = [p for p, problem in problems if not problem]
    if not valid:
        _, problem = min(problems, key=lambda item: (_STATE_RANK[item[0].state], -item[0].pk))
        return Decision(False, problem)
    lic, missing = _live_target_license(target, on)
    if lic is None:
        return Decision(False, missing)
    permission = valid[0]
    validity = (
        f"valid until {permission.valid_until}" if permission.valid_until else "until revoked"
    )
    state = "converted to a customer license" if lic.state == LicenseState.CONVERTED else "active"
    return Decision(
        True,
        ALLOWED_BY_PERMISSION.format(
            permission=permission.pk,
            validity=validity,
            target=_name(target),
            license=f"the Trial license {_license_label(lic)} ({state}, ends {lic.ends_on})"
            if lic.state == LicenseState.ACTIVE
            else f"the Trial license {_license_label(lic)} ({state})",
        ),
    )


def record_check(
    decision: Decision,
    *,
    application: Application | None,
    target: Infrastructure | None,
    caller: str,
    application_key: str | None = None,
    target_registration_id: str | None = None,
    client_ip: str | None = None,
    status_code: int | None = None,
) -> DeploymentCheck:
    """Log one question and its answer (the API logs refused calls too)."""
    if application_key is None:
        application_key = str(application.key) if application else ""
    if target_registration_id is None:
        target_registration_id = target.registration_id if target else ""
    return DeploymentCheck.objects.create(
        application=application,
        application_key=application_key[:64],
        target=target,
        target_registration_id=target_registration_id[:64],
        allowed=decision.allowed,
        reason=decision.reason,
        caller=caller[:100],
        client_ip=client_ip,
        status_code=status_code,
    )


def check_and_log(
    *,
    application: Application,
    target: Infrastructure,
    caller: str,
    on: date | None = None,
    client_ip: str | None = None,
    status_code: int | None = None,
    application_key: str | None = None,
    target_registration_id: str | None = None,
) -> Decision:
    """check_deployment, and its DeploymentCheck row: what the API and the admin call."""
    decision = check_deployment(application=application, target=target, on=on)
    record_check(
        decision,
        application=application,
        target=target,
        caller=caller,
        application_key=application_key,
        target_registration_id=target_registration_id,
        client_ip=client_ip,
        status_code=status_code,
    )
    return decision


# --- Permissions -------------------------------------------------------------------------


def _require_licensing_team(by, action: str) -> None:
    if not is_licensing_team(by):
        raise ValidationError(LICENSING_TEAM_ONLY.format(action=action), code="forbidden")


def _require_reason(reason: str) -> str:
    if not (reason or "").strip():
        raise ValidationError(REASON_REQUIRED, code="reason_required")
    return reason.strip()


def check_partner_side(by, *, source: Infrastructure, action: str) -> None:
    """The developer's side acts through the channel managers of the source owner partner's
    region; the licensing team may act for anyone."""
    if is_licensing_team(by):
        return
    partner = source.owner_partner
    if partner is None:
        raise ValidationError(
            SOURCE_WITHOUT_OWNER.format(source=_name(source), action=action), code="forbidden"
        )
    if not (is_channel_manager(by) and partner.region.channel_managers.filter(pk=by.pk).exists()):
        raise ValidationError(
            NOT_SOURCE_CHANNEL_MANAGER.format(
                region=partner.region, partner=partner, action=action
            ),
            code="forbidden",
        )


def _require_state(permission: DeploymentPermission, expected: str, action: str) -> None:
    if permission.state != expected:
        raise ValidationError(
            WRONG_STATE.format(
                state=permission.get_state_display().lower(),
                expected=PermissionState(expected).label.lower(),
                action=action,
            ),
            code="wrong_state",
        )


def validate_permission_request(
    *,
    applications: Iterable[Application],
    source: Infrastructure,
    target: Infrastructure,
    by,
) -> list[Application]:
    """Every check of request_permission, without writing: the admin form shows them."""
    applications = list(applications)
    check_partner_side(by, source=source, action="ask for a deployment permission")
    errors = []
    if source.owner_partner_id is None:
        errors.append(SOURCE_WITHOUT_DEVELOPER.format(source=_name(source)))
    if source.pk == target.pk:
        errors.append(SAME_INFRASTRUCTURE)
    if not applications:
        errors.append(NO_APPLICATIONS)
    foreign = [a for a in applications if a.developed_in_id != source.pk]
    if foreign:
        names = ", ".join(sorted(a.name for a in foreign))
        errors.append(
            APPLICATIONS_NOT_FROM_SOURCE.format(
                applications=f"{names} {'is' if len(foreign) == 1 else 'are'}",
                source=_name(source),
            )
        )
    if not errors:
        open_request = (
            DeploymentPermission.objects.filter(
                source=source,
                target=target,
                state=PermissionState.REQUESTED,
                applications__in=applications,
            )
            .order_by("-id")
            .first()
        )
        if open_request:
            asked = sorted(
                a.name for a in open_request.applications.all() if a in set(applications)
            )
            errors.append(
                ALREADY_REQUESTED.format(
                    permission=open_request.pk,
                    source=_name(source),
                    target=_name(target),
                    applications=", ".join(asked),
                )
            )
    if errors:
        raise ValidationError(errors, code="invalid")
    return applications


@transaction.atomic
def request_permission(
    *,
    applications: Iterable[Application],
    source: Infrastructure,
    target: Infrastructure,
    by,
    on: date | None = None,
) -> DeploymentPermission:
    """Ask, for the developer, to deploy some of its applications on another infrastructure.

    The channel manager of the source owner partner's region (or the licensing team) asks;
    the applications must be developed on `source`; `target` is another infrastructure.
    """
    on = on or today()
    # Lock the source so two simultaneous requests cannot both pass "no open request".
    source = (
        Infrastructure.objects.select_for_update(of=("self",))
        .select_related("owner_partner__region")
        .get(pk=source.pk)
    )
    applications = validate_permission_request(
        applications=applications, source=source, target=target, by=by
    )
    permission = DeploymentPermission(
        source=source,
        target=target,
        requested_by=by,
        requested_on=on,
        state=PermissionState.REQUESTED,
    )
    permission._history_user = by
    permission._change_reason = "requested"
    permission.save()
    # The m2m change writes the history row that lists the applications.
    permission._change_reason = "requested: " + ", ".join(sorted(a.name for a in applications))
    permission.applications.set(applications)
    return permission


def _locked(permission: DeploymentPermission) -> DeploymentPermission:
    # The row lock makes concurrent decisions on one permission wait for each other, so a
    # second one re-reads the state and is refused.
    return (
        DeploymentPermission.objects.select_for_update(of=("self",))
        .select_related("source__owner_partner__region", "target", "consent_by")
        .get(pk=permission.pk)
    )


def _save(permission: DeploymentPermission, by, reason: str, fields: list[str]) -> None:
    permission._history_user = by
    permission._change_reason = reason
    permission.save(update_fields=fields)


def _sync(target: DeploymentPermission, source: DeploymentPermission) -> DeploymentPermission:
    """Give the caller's instance the new values, so it never shows a stale state."""
    if target is not source:
        for field in source._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))
    return source


@transaction.atomic
def record_consent(
    permission: DeploymentPermission, *, contact: Contact, by, on: date | None = None
) -> DeploymentPermission:
    """Record the developer's consent: a contact of the source infrastructure's owner
    partner agreed, while the permission is requested."""
    on = on or today()
    locked = _locked(permission)
    check_partner_side(by, source=locked.source, action="record the developer's consent")
    _require_state(locked, PermissionState.REQUESTED, "consented to")
    partner = locked.source.owner_partner
    if partner is None or contact.partner_id != partner.pk:
        raise ValidationError(
            {
                "contact": CONSENT_NOT_BY_DEVELOPER.format(
                    contact=contact, partner=partner or "the owner", source=_name(locked.source)
                )
            }
        )
    if locked.has_consent:
        raise ValidationError(
            CONSENT_ALREADY_RECORDED.format(
                contact=locked.consent_by, consent_at=f"{locked.consent_at:%Y-%m-%d}"
            )
        )
    locked.consent_by = contact
    locked.consent_at = stamp(on)
    locked.consent_recorded_by = by
    _save(
        locked,
        by,
        f"consent of {contact.name} recorded",
        ["consent_by", "consent_at", "consent_recorded_by"],
    )
    return _sync(permission, locked)


@transaction.atomic
def grant(
    permission: DeploymentPermission,
    *,
    by,
    valid_until: date | None = None,
    on: date | None = None,
) -> DeploymentPermission:
    """Grant a requested permission whose developer consented (licensing team)."""
    on = on or today()
    _require_licensing_team(by, "grant a deployment permission")
    locked = _locked(permission)
    _require_state(locked, PermissionState.REQUESTED, "granted")
    if not locked.has_consent:
        raise ValidationError(
            CONSENT_REQUIRED.format(partner=locked.source.owner_partner or "the developer")
        )
    if valid_until is not None and valid_until < on:
        raise ValidationError(
            {"valid_until": VALID_UNTIL_IN_PAST.format(valid_until=valid_until, on=on)}
        )
    locked.state = PermissionState.GRANTED
    locked.valid_until = valid_until
    locked.decided_by = by
    locked.decided_at = stamp(on)
    reason = f"granted until {valid_until}" if valid_until else "granted"
    _save(locked, by, reason, ["state", "valid_until", "decided_by", "decided_at"])
    return _sync(permission, locked)


@transaction.atomic
def refuse(
    permission: DeploymentPermission, *, by, reason: str, on: date | None = None
) -> DeploymentPermission:
    """Refuse a requested permission, saying why (licensing team)."""
    on = on or today()
    _require_licensing_team(by, "refuse a deployment permission")
    reason = _require_reason(reason)
    locked = _locked(permission)
    _require_state(locked, PermissionState.REQUESTED, "refused")
    locked.state = PermissionState.REFUSED
    locked.reason = reason
    locked.decided_by = by
    locked.decided_at = stamp(on)
    _save(locked, by, f"refused: {reason}", ["state", "reason", "decided_by", "decided_at"])
    return _sync(permission, locked)


@transaction.atomic
def revoke(
    permission: DeploymentPermission, *, by, reason: str, on: date | None = None
) -> DeploymentPermission:
    """Revoke a granted permission, saying why (licensing team): checks deny from now."""
    on = on or today()
    _require_licensing_team(by, "revoke a deployment permission")
    reason = _require_reason(reason)
    locked = _locked(permission)
    _require_state(locked, PermissionState.GRANTED, "revoked")
    locked.state = PermissionState.REVOKED
    locked.reason = reason
    locked.revoked_by = by
    locked.revoked_at = stamp(on)
    _save(locked, by, f"revoked: {reason}", ["state", "reason", "revoked_by", "revoked_at"])
    return _sync(permission, locked)


# --- API tokens --------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_token_issue(infrastructure: Infrastructure, *, by) -> None:
    """Every check of issue_token, without writing: the admin form shows them."""
    _require_licensing_team(by, "issue API tokens")
    if not infrastructure.registration_id:
        raise ValidationError(API_NEEDS_REGISTRATION.format(infrastructure=infrastructure))


@sensitive_variables("token")
@transaction.atomic
def issue_token(infrastructure: Infrastructure, *, by) -> str:
    """A new API token for the infrastructure, returned once (only its hash is stored);
    the previous token stops working. Licensing team only."""
    _require_licensing_team(by, "issue API tokens")
    # Lock the infrastructure: two simultaneous issues would both revoke, then both insert.
    infrastructure = Infrastructure.objects.select_for_update().get(pk=infrastructure.pk)
    validate_token_issue(infrastructure, by=by)
    now = timezone.now()
    for previous in InfrastructureToken.objects.active().filter(infrastructure=infrastructure):
        previous.revoked_at, previous.revoked_by = now, by
        previous._history_user, previous._change_reason = by, "revoked: a new token was issued"
        previous.save(update_fields=["revoked_at", "revoked_by"])
    token = secrets.token_urlsafe(32)
    record = InfrastructureToken(
        infrastructure=infrastructure,
        key_prefix=token[:8],
        key_hash=hash_token(token),
        created_by=by,
        created_at=now,
    )
    record._history_user, record._change_reason = by, "issued"
    record.save()
    return token


@transaction.atomic
def revoke_token(token: InfrastructureToken, *, by) -> InfrastructureToken:
    """Stop a token working at once (licensing team), e.g. when it leaked."""
    _require_licensing_team(by, "revoke API tokens")
    locked = InfrastructureToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        raise ValidationError(
            ALREADY_REVOKED.format(revoked_at=f"{locked.revoked_at:%Y-%m-%d %H:%M}")
        )
    locked.revoked_at, locked.revoked_by = timezone.now(), by
    locked._history_user, locked._change_reason = by, "revoked"
    locked.save(update_fields=["revoked_at", "revoked_by"])
    token.revoked_at, token.revoked_by = locked.revoked_at, by
    return locked


@sensitive_variables("token")
def authenticate_token(token: str) -> InfrastructureToken | None:
    """The active token record matching `token`, or None (unknown or revoked)."""
    if not token:
        return None
    digest = hash_token(token)
    record = (
        InfrastructureToken.objects.active()
        .select_related("infrastructure")
        .filter(key_hash=digest)
        .first()
    )
    # The lookup is by hash; compare again in constant time all the same.
    if record is None or not hmac.compare_digest(record.key_hash, digest):
        return None
    return record
