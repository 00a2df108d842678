"""Celery tasks: thin, taking ids, idempotent through the services they call."""

from __future__ import annotations

import smtplib
from datetime import date

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError

from partners.services import today

from . import notifications
from .models import License

# Transient mail, network or database errors: retried with exponential backoff.
TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError, OSError, OperationalError)
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**RETRY)
def send_onboarding_mail(license_id: int) -> int:
    lic = License.objects.select_related("partner", "policy", "infrastructure").get(pk=license_id)
    return notifications.send_onboarding(lic)


@shared_task(**RETRY)
def deliver_notification(notification_id: int) -> bool:
    return notifications.deliver(notification_id)


@shared_task(**RETRY)
def deliver_notifications(notification_ids: list[int]) -> int:
    """A batch of queued mails (a nightly batch's reminders): one broker message per
    batch instead of one per mail. A mail that fails for a transient reason goes on
    with a retried task of its own, and the rest of the batch is still sent; a batch
    delivered twice sends nothing twice (`deliver` skips what was sent)."""
    sent = 0
    for pk in notification_ids:
        try:
            sent += notifications.deliver(pk)
        except TRANSIENT:
            deliver_notification.delay(pk)
    return sent


@shared_task(**RETRY)
def run_nightly(day: str | None = None, chunks: int | None = None) -> dict:
    """The beat schedule's nightly task; `day` (ISO date) defaults to today, UTC.

    With NIGHTLY_CHUNKS (or `chunks`) above 1 it only fans the night out: one task per
    chunk of licenses, and the last chunk to finish runs the global steps.
    """
    from . import nightly

    on = date.fromisoformat(day) if day else today()
    chunks = chunks or settings.NIGHTLY_CHUNKS
    if chunks <= 1:
        return nightly.run_nightly(today=on)
    # The countdown lives in the shared cache (Redis in production): decr is atomic.
    cache.set(_countdown(on), chunks, timeout=nightly.LOCK_SECONDS * 4)
    for index in range(chunks):
        run_nightly_chunk.delay(on.isoformat(), index, chunks)
    return {"chunks": chunks}


@shared_task(**RETRY)
def run_nightly_chunk(day: str, index: int, chunks: int) -> dict:
    from . import nightly

    on = date.fromisoformat(day)
    counts = nightly.run_nightly(today=on, chunk=(index, chunks))
    try:
        remaining = cache.decr(_countdown(on))
    except ValueError:  # the countdown expired: run the global steps anyway (idempotent)
        remaining = 0
    if remaining <= 0:
        nightly.run_global(today=on)
    return counts


def _countdown(on: date) -> str:
    return f"nightly-fanout:{on.isoformat()}"
