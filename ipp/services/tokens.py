"""API tokens: one per infrastructure, issued once, stored hashed, revoked at will."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from licensing.models import Infrastructure

from ..models import InfrastructureToken
from .common import require_licensing_team

__all__ = [
    "ALREADY_REVOKED",
    "API_NEEDS_REGISTRATION",
    "authenticate_token",
    "hash_token",
    "issue_token",
    "revoke_token",
    "validate_token_issue",
]

API_NEEDS_REGISTRATION = (
    "{infrastructure} has no registration id yet: the API names an infrastructure by it, "
    "so register it first."
)
ALREADY_REVOKED = "This token was already revoked on {revoked_at}."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_token_issue(infrastructure: Infrastructure, *, by) -> None:
    """Every check of issue_token, without writing: the admin form shows them."""
    require_licensing_team(by, "issue API tokens")
    if not infrastructure.registration_id:
        raise ValidationError(API_NEEDS_REGISTRATION.format(infrastructure=infrastructure))


@sensitive_variables("token")
@transaction.atomic
def issue_token(infrastructure: Infrastructure, *, by) -> str:
    """A new API token for the infrastructure, returned once (only its hash is stored);
    the previous token stops working. Licensing team only."""
    require_licensing_team(by, "issue API tokens")
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
    require_licensing_team(by, "revoke API tokens")
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
