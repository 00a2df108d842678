"""What every IPP service shares: who may act, the reason check, how things are named,
how a change is saved with its history."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Model

from licensing.models import Infrastructure, License
from partners.scoping import is_licensing_team

__all__ = ["LICENSING_TEAM_ONLY", "REASON_REQUIRED"]

LICENSING_TEAM_ONLY = "Only the licensing team may {action}."
REASON_REQUIRED = "Give a reason: it is kept in the permission's history."


def name(infrastructure: Infrastructure) -> str:
    return str(infrastructure)


def license_label(lic: License) -> str:
    return f"{lic.policy.kind}-{lic.pk}"


def require_licensing_team(by, action: str) -> None:
    if not is_licensing_team(by):
        raise ValidationError(LICENSING_TEAM_ONLY.format(action=action), code="forbidden")


def require_reason(reason: str) -> str:
    if not (reason or "").strip():
        raise ValidationError(REASON_REQUIRED, code="reason_required")
    return reason.strip()


def save(instance: Model, by, reason: str, fields: list[str]) -> None:
    instance._history_user = by
    instance._change_reason = reason
    instance.save(update_fields=fields)


def sync(target: Model, source: Model) -> Model:
    """Give the caller's instance the new values, so it never shows a stale state."""
    if target is not source:
        for field in source._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))
    return source
