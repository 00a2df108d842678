"""Resolving a compliance incident: the licensing team closes it with a note.

An unresolved incident takes its partner out of good standing (`partners.services.standing`);
resolving it is the one way back, so who resolved it, when and how is kept on the row and in
its history. The dashboard counts incidents: their save changes its data version
(`partners.dashboard_cache.COUNTED_MODELS`).
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from .dates import today
from .models import ComplianceIncident
from .roles import LICENSING_TEAM
from .scoping import role_names

RESOLVE_LICENSING_TEAM_ONLY = f"Only the {LICENSING_TEAM} may resolve a compliance incident."
RESOLUTION_NOTE_REQUIRED = "Say how the incident was resolved: the note is kept with it."
ALREADY_RESOLVED = "This incident was already resolved on {resolved_on}."
RESOLVED_BEFORE_OPENED = "An incident opened on {opened_on} cannot be resolved on {on}."


def may_resolve_incidents(user) -> bool:
    return bool(user and (user.is_superuser or LICENSING_TEAM in role_names(user)))


@transaction.atomic
def resolve_incident(
    incident: ComplianceIncident, *, by, note: str, on: date | None = None
) -> ComplianceIncident:
    """Resolve `incident` on `on` (today by default) with `note` saying how: the partner is
    back in good standing from that day if nothing else is wrong."""
    on = on or today()
    if not may_resolve_incidents(by):
        raise ValidationError(RESOLVE_LICENSING_TEAM_ONLY, code="forbidden")
    note = (note or "").strip()
    if not note:
        raise ValidationError(RESOLUTION_NOTE_REQUIRED, code="note_required")
    locked = ComplianceIncident.objects.select_for_update().get(pk=incident.pk)
    if locked.resolved_on is not None:
        raise ValidationError(
            ALREADY_RESOLVED.format(resolved_on=locked.resolved_on), code="wrong_state"
        )
    if on < locked.opened_on:
        raise ValidationError(
            RESOLVED_BEFORE_OPENED.format(opened_on=locked.opened_on, on=on), code="too_early"
        )
    locked.resolved_on, locked.resolved_by, locked.resolution = on, by, note
    locked._history_user = by
    locked._change_reason = f"resolved: {note}"
    locked.save(update_fields=["resolved_on", "resolved_by", "resolution"])
    incident.resolved_on, incident.resolved_by, incident.resolution = on, by, note
    return locked
