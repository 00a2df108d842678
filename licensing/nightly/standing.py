"""The nightly step that keeps each partner's standing for the day: the changes only the
calendar makes (a term starting or ending, a signature, revocation or fee confirmation, an
incident or an authorization dated in advance) since the last night that finished.

Every other change refreshes it in its own transaction (`partners.services.refresh_standing`).
"""

from __future__ import annotations

from django.db.models import Max

from partners.services import refresh_standing_moved

from ..choices import RunStatus
from ..models import NightlyRun
from .bulk import Context

# The parts of a night that run this step: a whole run, or the global part of a split one.
PARTS_WITH_STANDING = ("", "global")


def keep_standing(ctx: Context) -> None:
    """Refresh the partners whose standing may have moved since the last finished night (all
    of them when none finished before): a missed night is caught up by the next."""
    since = NightlyRun.objects.filter(
        day__lt=ctx.day, part__in=PARTS_WITH_STANDING, status=RunStatus.FINISHED
    ).aggregate(last=Max("day"))["last"]
    changed = refresh_standing_moved(since=since, on=ctx.day)
    ctx.standing_kept = True
    ctx.say(f"standing kept: {changed} partner(s) changed")
