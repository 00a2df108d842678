"""Celery tasks: thin, taking ids, idempotent through the services they call."""

from __future__ import annotations

import smtplib
from datetime import date

from celery import shared_task
from django.db import OperationalError

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
def run_nightly(day: str | None = None) -> dict:
    """The beat schedule's nightly task; `day` (ISO date) defaults to today, UTC."""
    from . import nightly

    return nightly.run_nightly(today=date.fromisoformat(day) if day else None)
