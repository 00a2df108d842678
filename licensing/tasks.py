"""Celery tasks: thin, taking ids, idempotent through the services they call.

The mail tasks are defined in `licensing.delivery` and re-exported here under the names
they are registered with; the nightly tasks below start the night through the same entry
point as the `run_nightly` command (`licensing.services.run_nightly`).
"""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from partners.dates import today

from . import nightly, services
from .delivery import (
    deliver_notification,
    deliver_notifications,
    deliver_pending,
    send_onboarding_mail,
)

# Database or broker trouble: the nightly task is retried with backoff (idempotent).
RETRY = {
    "acks_late": True,
    "autoretry_for": (ConnectionError, TimeoutError, OSError, OperationalError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}

__all__ = [
    "RETRY",
    "deliver_notification",
    "deliver_notifications",
    "deliver_pending",
    "run_nightly",
    "run_nightly_chunk",
    "send_onboarding_mail",
]


@shared_task(**RETRY)
def run_nightly(day: str | None = None, chunks: int | None = None) -> dict:
    """The beat schedule's nightly task; `day` (ISO date) defaults to today, UTC.

    With NIGHTLY_CHUNKS (or `chunks`) above 1 it only fans the night out: one task per
    chunk of licenses, and the last chunk to finish runs the global steps.
    """
    on = date.fromisoformat(day) if day else today()
    chunks = chunks or settings.NIGHTLY_CHUNKS
    if chunks <= 1:
        return services.run_nightly(today=on)
    for index in range(chunks):
        run_nightly_chunk.delay(on.isoformat(), index, chunks)
    return {"chunks": chunks}


@shared_task(**RETRY)
def run_nightly_chunk(day: str, index: int, chunks: int) -> dict:
    """One chunk of a split night; the chunk that finds every chunk finished runs the
    global steps. A chunk whose worker was killed is delivered again (acks_late,
    reject_on_worker_lost): its lock died with the worker, so the rerun starts at once,
    marks the dead run failed and finishes the chunk, and the global steps still run once
    the last chunk is done."""
    on = date.fromisoformat(day)
    counts = nightly.run_nightly(today=on, chunk=(index, chunks))
    # Asked after this chunk's run is recorded: of chunks finishing together, at least the
    # last one sees every chunk done (an extra global run finds nothing left to do).
    if nightly.chunks_finished(on, chunks):
        nightly.run_global(today=on)
    return counts
