"""Running one night: the run's record, its lock, and the steps in order."""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import date

from django.contrib.auth import get_user_model
from django.utils import timezone

from partners.dates import today as utc_today

from ..choices import RunStatus
from ..models import NightlyRun
from .bulk import Context, old_objects_left_alone
from .lock import run_lock
from .steps import GLOBAL_STEPS, LICENSE_STEPS, STEPS
from .usage import ACTIONS as USAGE_ACTIONS

logger = logging.getLogger(__name__)

# What a run reports, every key present (0 when nothing was due).
ACTIONS = (
    "renewed",
    "expired",
    "reactivated",
    "trials_expired",
    "cancelled",
    "partners_former",
    "reminders",
    "lifecycle_mails",
    "overdue_flagged",
    "overdue_alerts",
    "upgrade_reports",
    *USAGE_ACTIONS,
    "mails_sent",
)
# The error of a run found still "running" by the next run of its day and part.
DIED = "died: the process ended without finishing"


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
    if chunk:
        return _run(today or utc_today(), LICENSE_STEPS, progress, chunk_part(*chunk), chunk)
    return _run(today or utc_today(), STEPS, progress, "")


def run_global(*, today: date | None = None, progress=None) -> dict:
    """The steps that look at the whole night's result: former partners, upgrade report."""
    return _run(today or utc_today(), GLOBAL_STEPS, progress, "global")


def chunk_part(index: int, chunks: int) -> str:
    return f"chunk {index + 1}/{chunks}"


def chunks_finished(day: date, chunks: int) -> bool:
    """Has every chunk of `day` split `chunks` ways finished its last run?

    Asked by each chunk once it has finished: the last one to finish sees them all done
    and runs the global steps. Read from the runs' rows, not counted down, so a chunk
    that is rerun (its worker killed, the task delivered again) or skipped counts once.
    """
    parts = [chunk_part(index, chunks) for index in range(chunks)]
    last = dict(
        NightlyRun.objects.filter(day=day, part__in=parts)
        .exclude(status=RunStatus.SKIPPED)
        .order_by("started_at", "pk")
        .values_list("part", "status")
    )
    return len(last) == chunks and all(status == RunStatus.FINISHED for status in last.values())


class Progress(Counter):
    """The run's counts, written to its row at every change: in the transaction of the batch
    that made the change, so a run killed halfway leaves the counts of the work it committed.
    """

    def __init__(self, run: NightlyRun):
        super().__init__(dict.fromkeys(ACTIONS, 0))
        # A copy of the row that saves without a history row per batch: the history has
        # the run's start, its end and its status, not every count on the way.
        self._row = copy.copy(run)
        self._row.skip_history_when_saving = True

    def __setitem__(self, key, value):
        if self.get(key) == value:
            return
        super().__setitem__(key, value)
        self._row.counts = dict(sorted(self.items()))
        self._row.save(update_fields=["counts"])


def _run(day: date, steps, progress, part: str, chunk: tuple[int, int] | None = None) -> dict:
    """1. Take the lock of the day and part: held by a live run, this one is skipped.
    2. Any earlier run of the day and part still "running" is dead (a live one would hold
       the lock): marked failed, with the counts it saved; this run finishes its work.
    3. Run the steps, the counts saved as they change; record the outcome, then release.
    """
    say = progress or (lambda message: None)
    lock = run_lock(day, part)
    # A second beat or worker on the same day finds the lock taken and records a skipped
    # run (the first one's work is idempotent anyway).
    if not lock.acquire():
        _record(day, part, RunStatus.SKIPPED, finished=True)
        say(f"another run for {_label(day, part)} holds the lock: skipped")
        return {"skipped": 1}
    try:
        user = system_user()
        for dead in _bury_dead_runs(day, part, user):
            say(
                f"an earlier run for {_label(day, part)}, started "
                f"{dead.started_at:%Y-%m-%d %H:%M:%S} UTC, {DIED}: marked failed "
                f"(its counts kept: {_summary(dead.counts)}); this run finishes its work"
            )
        run = _record(day, part, RunStatus.RUNNING)
        counts = Progress(run)
        context = Context(day=day, counts=counts, user=user, say=say, chunk=chunk)
        try:
            with old_objects_left_alone():
                for step in steps:
                    started = time.monotonic()
                    step(context)
                    lock.renew()
                    took = time.monotonic() - started
                    say(f"{step.__name__.replace('_', ' ')}: done in {took:.2f}s")
        except Exception as error:
            _finish(run, RunStatus.FAILED, counts, error=repr(error))
            logger.exception("nightly run for %s failed", day)
            raise
        # Recorded while the lock is still held: a run that dies after this line is not
        # mistaken for a dead one by the next.
        _finish(run, RunStatus.FINISHED, counts)
    finally:
        lock.release()
    return dict(counts)


def _record(day: date, part: str, status: str, *, finished: bool = False) -> NightlyRun:
    now = timezone.now()
    return NightlyRun.objects.create(
        day=day, part=part, started_at=now, finished_at=now if finished else None, status=status
    )


def _bury_dead_runs(day: date, part: str, user) -> list[NightlyRun]:
    """Rows of the day and part still "running" while this run holds their lock: their
    process ended without finishing. Failed, with the counts they saved; no finish time,
    since nobody knows when they died."""
    dead = list(NightlyRun.objects.filter(day=day, part=part, status=RunStatus.RUNNING))
    for run in dead:
        run.status, run.error = RunStatus.FAILED, DIED
        run._history_user, run._change_reason = user, DIED
        run.save(update_fields=["status", "error"])
        logger.warning("nightly run %s for %s: %s", run.pk, _label(day, part), DIED)
    return dead


def _label(day: date, part: str) -> str:
    return f"{day} ({part})" if part else str(day)


def _summary(counts: dict) -> str:
    done = {k: v for k, v in counts.items() if v}
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()) or "nothing"


def _finish(run: NightlyRun, status: str, counts, error: str = "") -> None:
    run.status, run.counts, run.error = status, dict(sorted(counts.items())), error[:4000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])
