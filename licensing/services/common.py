"""What every licensing service shares: who may act, the row lock, the state check, the
mail of the change."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from partners.dates import stamp, today
from partners.scoping import is_licensing_team

from .. import delivery, mails, notifications, selectors
from ..choices import LicenseState
from ..models import License, LicensePolicy

__all__ = [
    "LICENSING_TEAM_ONLY",
    "REASON_REQUIRED",
    "UNKNOWN_KIND",
    "WRONG_STATE",
    "stamp",
    "today",
]

LICENSING_TEAM_ONLY = "Only the licensing team may {action} a license."
# "can be provisioned only when approved": no article to get wrong ("a approved").
WRONG_STATE = "This license is {state}: it can be {action} only when {expected}."
REASON_REQUIRED = "Give a reason: it is kept in the license's history."
UNKNOWN_KIND = "Unknown license kind {kind}: choose DL, IL or TL."


def save(lic: License, by, reason: str, fields: list[str] | None = None) -> None:
    lic._history_user = by
    lic._change_reason = reason
    lic.save(update_fields=fields)


def apply(lic: License, change, by) -> None:
    """Save a lifecycle `Change` (licensing.lifecycle) on one license, authored by `by`."""
    fields = change.apply(lic)
    lic._history_user = by
    lic.save(update_fields=fields)


def people(lic: License) -> selectors.People:
    """Who is around the license, for its mails."""
    return selectors.people_of([lic.pk])[lic.pk]


def tell(*sent: mails.Mail) -> None:
    """Write the mails to the outbox in the transaction of the change, and deliver them
    once it commits: a change rolled back sends nothing, a change made loses no mail."""
    notifications.queue_many(mails.rows(*sent))
    delivery.after_commit()


def lock(lic: License) -> License:
    # The row lock makes concurrent transitions of one license wait for each other, so a
    # second approval re-reads the state and is refused.
    # of=("self",): lock the license row only, not its policy or partner rows.
    return (
        License.objects.select_for_update(of=("self",))
        .select_related("policy", "partner")
        .get(pk=lic.pk)
    )


def sync(target, source):
    """Give the caller's instance the new values, so it never shows a stale state."""
    if target is not source:
        for field in source._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))
    return source


def require_state(lic: License, expected: tuple[str, ...], action: str) -> None:
    if lic.state not in expected:
        raise ValidationError(
            WRONG_STATE.format(
                state=lic.get_state_display().lower(),
                expected=" or ".join(LicenseState(s).label.lower() for s in expected),
                action=action,
            ),
            code="wrong_state",
        )


def require_licensing_team(by, action: str) -> None:
    if not is_licensing_team(by):
        raise ValidationError(LICENSING_TEAM_ONLY.format(action=action), code="forbidden")


def require_reason(reason: str) -> str:
    if not (reason or "").strip():
        raise ValidationError(REASON_REQUIRED, code="reason_required")
    return reason.strip()


def policy_of(kind: str) -> LicensePolicy:
    try:
        return LicensePolicy.objects.get(kind=kind)
    except LicensePolicy.DoesNotExist:
        raise ValidationError(UNKNOWN_KIND.format(kind=kind), code="unknown_kind") from None
