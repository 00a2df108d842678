"""The decision: may an application be deployed on an infrastructure? And its log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from licensing.choices import LicenseState
from licensing.models import Infrastructure
from partners.dates import today

from .. import selectors
from ..choices import PermissionState
from ..models import Application, DeploymentCheck, DeploymentPermission
from .common import license_label, name

__all__ = [
    "ALLOWED_BY_PERMISSION",
    "NOT_COVERED",
    "NO_CONSENT",
    "NO_PERMISSION",
    "NO_TARGET_LICENSE",
    "ONLY_REQUESTED",
    "ONLY_REQUESTED_NO_CONSENT",
    "OWN_INFRASTRUCTURE",
    "PERMISSION_EXPIRED",
    "PERMISSION_REFUSED",
    "PERMISSION_REVOKED",
    "TARGET_TRIAL_CANCELLED",
    "TARGET_TRIAL_ENDED",
    "TARGET_TRIAL_NOT_LIVE",
    "Decision",
    "check_and_log",
    "check_deployment",
    "record_check",
]

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


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __str__(self) -> str:
        return f"{'allowed' if self.allowed else 'denied'}: {self.reason}"


def _no_target_license(target: Infrastructure) -> str:
    """Why `target` holds no license that lets other infrastructures' applications run
    there (asked once `selectors.live_target_license` found none): its latest Trial's fate."""
    latest = selectors.target_trials(target).first()
    target_name = name(target)
    if latest is None:
        return NO_TARGET_LICENSE.format(target=target_name)
    label = license_label(latest)
    if latest.state == LicenseState.CANCELLED:
        return TARGET_TRIAL_CANCELLED.format(
            target=target_name, license=label, cancelled_on=latest.cancelled_on
        )
    if latest.state in (LicenseState.ACTIVE, LicenseState.EXPIRED) and latest.ends_on:
        expired_on = latest.expired_on or latest.ends_on + timedelta(days=1)
        return TARGET_TRIAL_ENDED.format(target=target_name, license=label, expired_on=expired_on)
    return TARGET_TRIAL_NOT_LIVE.format(
        target=target_name, license=label, state=latest.get_state_display().lower()
    )


def _permission_problem(permission: DeploymentPermission, application, on: date) -> str:
    """Why this permission (covering the application) does not allow it; "" when it does."""
    names = {
        "permission": permission.pk,
        "application": application,
        "target": name(permission.target),
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
            True, OWN_INFRASTRUCTURE.format(application=application, infrastructure=name(target))
        )
    permissions = list(
        DeploymentPermission.objects.filter(source=source, target=target)
        .select_related("source", "target", "consent_by")
        .prefetch_related("applications")
        .order_by("-id")
    )
    if not permissions:
        return Decision(False, NO_PERMISSION.format(application=application, target=name(target)))
    covering = [p for p in permissions if any(a.pk == application.pk for a in p.applications.all())]
    if not covering:
        return Decision(
            False,
            NOT_COVERED.format(
                target=name(target),
                permissions=", ".join(f"#{p.pk}" for p in permissions),
                application=application,
            ),
        )
    problems = [(p, _permission_problem(p, application, on)) for p in covering]
    valid = [p for p, problem in problems if not problem]
    if not valid:
        _, problem = min(problems, key=lambda item: (_STATE_RANK[item[0].state], -item[0].pk))
        return Decision(False, problem)
    lic = selectors.live_target_license(target, on)
    if lic is None:
        return Decision(False, _no_target_license(target))
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
            target=name(target),
            license=f"the Trial license {license_label(lic)} ({state}, ends {lic.ends_on})"
            if lic.state == LicenseState.ACTIVE
            else f"the Trial license {license_label(lic)} ({state})",
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
