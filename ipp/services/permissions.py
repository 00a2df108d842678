"""Deployment permissions: asked for the developer, consented to by one of its contacts,
granted or refused by the licensing team, revoked by it when they must end."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from licensing.models import Infrastructure
from partners.dates import stamp, today
from partners.models import Contact
from partners.scoping import is_channel_manager, is_licensing_team

from ..choices import PermissionState
from ..models import Application, DeploymentPermission
from .common import name, require_licensing_team, require_reason, save, sync

__all__ = [
    "ALREADY_REQUESTED",
    "APPLICATIONS_NOT_FROM_SOURCE",
    "CONSENT_ALREADY_RECORDED",
    "CONSENT_NOT_BY_DEVELOPER",
    "CONSENT_REQUIRED",
    "NOT_SOURCE_CHANNEL_MANAGER",
    "NO_APPLICATIONS",
    "SAME_INFRASTRUCTURE",
    "SOURCE_WITHOUT_DEVELOPER",
    "SOURCE_WITHOUT_OWNER",
    "VALID_UNTIL_IN_PAST",
    "WRONG_STATE",
    "check_partner_side",
    "grant",
    "record_consent",
    "refuse",
    "request_permission",
    "revoke",
    "validate_permission_request",
]

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


def check_partner_side(by, *, source: Infrastructure, action: str) -> None:
    """The developer's side acts through the channel managers of the source owner partner's
    region; the licensing team may act for anyone."""
    if is_licensing_team(by):
        return
    partner = source.owner_partner
    if partner is None:
        raise ValidationError(
            SOURCE_WITHOUT_OWNER.format(source=name(source), action=action), code="forbidden"
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
        errors.append(SOURCE_WITHOUT_DEVELOPER.format(source=name(source)))
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
                source=name(source),
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
                    source=name(source),
                    target=name(target),
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
                    contact=contact, partner=partner or "the owner", source=name(locked.source)
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
    save(
        locked,
        by,
        f"consent of {contact.name} recorded",
        ["consent_by", "consent_at", "consent_recorded_by"],
    )
    return sync(permission, locked)


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
    require_licensing_team(by, "grant a deployment permission")
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
    save(locked, by, reason, ["state", "valid_until", "decided_by", "decided_at"])
    return sync(permission, locked)


@transaction.atomic
def refuse(
    permission: DeploymentPermission, *, by, reason: str, on: date | None = None
) -> DeploymentPermission:
    """Refuse a requested permission, saying why (licensing team)."""
    on = on or today()
    require_licensing_team(by, "refuse a deployment permission")
    reason = require_reason(reason)
    locked = _locked(permission)
    _require_state(locked, PermissionState.REQUESTED, "refused")
    locked.state = PermissionState.REFUSED
    locked.reason = reason
    locked.decided_by = by
    locked.decided_at = stamp(on)
    save(locked, by, f"refused: {reason}", ["state", "reason", "decided_by", "decided_at"])
    return sync(permission, locked)


@transaction.atomic
def revoke(
    permission: DeploymentPermission, *, by, reason: str, on: date | None = None
) -> DeploymentPermission:
    """Revoke a granted permission, saying why (licensing team): checks deny from now."""
    on = on or today()
    require_licensing_team(by, "revoke a deployment permission")
    reason = require_reason(reason)
    locked = _locked(permission)
    _require_state(locked, PermissionState.GRANTED, "revoked")
    locked.state = PermissionState.REVOKED
    locked.reason = reason
    locked.revoked_by = by
    locked.revoked_at = stamp(on)
    save(locked, by, f"revoked: {reason}", ["state", "reason", "revoked_by", "revoked_at"])
    return sync(permission, locked)
