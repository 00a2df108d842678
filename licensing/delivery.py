"""Celery tasks that send the desk's mail: thin, taking ids, idempotent through the
Notification rows they deliver (`notifications.deliver` skips what was sent).

They live apart from `licensing.tasks` (which re-exports them under their registered
names) so that the services and the nightly run can queue mail without importing the
module whose tasks start the nightly run.
"""

from __future__ import annotations

import smtplib

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


@shared_task(name="licensing.tasks.send_onboarding_mail", **RETRY)
def send_onboarding_mail(license_id: int) -> int:
    lic = License.objects.select_related("partner", "policy", "infrastructure").get(pk=license_id)
    return notifications.send_onboarding(lic)


@shared_task(name="licensing.tasks.deliver_notification", **RETRY)
def deliver_notification(notification_id: int) -> bool:
    return notifications.deliver(notification_id)


@shared_task(name="licensing.tasks.deliver_notifications", **RETRY)
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
