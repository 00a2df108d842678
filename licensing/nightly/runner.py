"""Running one night: the run's record, its lock, and the steps in order."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import date

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from partners.dates import today as utc_today

from ..choices import RunStatus
from ..models import NightlyRun
from .bulk import Context
from .steps import GLOBAL_STEPS, LICENSE_STEPS, STEPS

logger = logging.getLogger(__name__)

# Long enough for a large run, short enough that a crashed worker's lock frees itself.
LOCK_SECONDS = 30 * 60
# What a run reports, every key present (0 when nothing was due).
ACTIONS = (
    "renewed",
    "expired",
    "reactivated",
    "trials_expired",
    "cancelled",
    "partners_former",
    "reminders",
    "overdue_flagged",
    "overdue_alerts",
    "upgrade_reports",
    "mails_sent",
)


def system_user():
    """The author of the nightly run's history rows."""
    user, _ = get_user_model().objects.get_or_create(
        username="system",
        defaults={"first_name": "Nightly", "last_name": "jobs", "is_active": False},
    )
    return user


def run_nightly(
    *,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    chunk: tuple[int, int] | None = None,
) -> dict:
    """Run the nightly steps for `today` (default: today, UTC); return counts by action.

    With `chunk=(i, k)` only the license steps run, on the licenses whose id % k == i:
    k workers share one night (see tasks.run_nightly), and `run_global` then does the
    partner and report steps once. Each license's steps stay in order within its chunk,
    so the night ends the same as in one process.
    """
    steps = LICENSE_STEPS if chunk else STEPS
    return _run(today or utc_today(), steps, progress, chunk=chunk)


def run_global(*, today: date | None = None, progress=None) -> dict:
    """The steps that look at the whole night's result: former partners, upgrade report."""
    return _run(today or utc_today(), GLOBAL_STEPS, progress, part="global")


def _run(day: date, steps, progress, chunk=None, part="") -> dict:
    say = progress or (lambda message: None)
    part = part or (f"chunk {chunk[0] + 1}/{chunk[1]}" if chunk else "")
    run = NightlyRun.objects.create(
        day=day, part=part, started_at=timezone.now(), status=RunStatus.RUNNING
    )
    # "chunk 2/4" -> "chunk-2-of-4": a key any cache backend accepts.
    lock = f"nightly-run:{day.isoformat()}:{(part or 'all').replace(' ', '-').replace('/', '-of-')}"
    # A second beat or worker on the same day waits its turn: it finds the lock taken and
    # records a skipped run (the first one's work is idempotent anyway).
    if not cache.add(lock, run.pk, timeout=LOCK_SECONDS):
        _finish(run, RunStatus.SKIPPED, {})
        say(f"another run for {day} holds the lock: skipped")
        return {"skipped": 1}
    counts: Counter = Counter(dict.fromkeys(ACTIONS, 0))
    context = Context(day=day, counts=counts, user=system_user(), say=say, chunk=chunk)
    try:
        for step in steps:
            started = time.monotonic()
            step(context)
            say(f"{step.__name__.replace('_', ' ')}: done in {time.monotonic() - started:.2f}s")
    except Exception as error:
        _finish(run, RunStatus.FAILED, counts, error=repr(error))
        logger.exception("nightly run for %s failed", day)
        raise
    finally:
        cache.delete(lock)
    _finish(run, RunStatus.FINISHED, counts)
    return dict(counts)


def _finish(run: NightlyRun, status: str, counts, error: str = "") -> None:
    run.status, run.counts, run.error = status, dict(sorted(counts.items())), error[:4000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
