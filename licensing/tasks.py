"""Celery tasks: thin, taking ids, idempotent through the services they call."""

from __future__ import annotations

import smtplib

from celery import shared_task

from . import notifications
from .models import License

# Transient mail or network errors: retried with exponential backoff.
TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError, OSError)


@shared_task(
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def send_onboarding_mail(license_id: int) -> int:
    lic = License.objects.select_related("partner", "policy", "infrastructure").get(pk=license_id)
    return notifications.send_onboarding(lic)
