"""Celery tasks that send the desk's mail, and the call that starts them after a commit.

The mail itself is in the outbox (`licensing.outbox`): these tasks only ask it to deliver.
They live apart from `licensing.tasks` (which re-exports them under their registered
names) so that the services and the nightly run can start a delivery without importing
the module whose tasks start the nightly run.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from . import notifications, outbox
from .models import License

logger = logging.getLogger(__name__)


@shared_task(name="licensing.tasks.deliver_pending", acks_late=True)
def deliver_pending() -> int:
    """Every pending mail that is due (the beat runs it every few minutes as well)."""
    return outbox.deliver_notifications()


def after_commit() -> None:
    """Deliver what this transaction queued, once it commits (inline where tasks run
    eagerly, as in the zero-setup default). A broker that is down loses nothing: the rows
    stay pending for the beat's next delivery, and the change itself stands."""
    transaction.on_commit(deliver_pending.delay, robust=True)


@shared_task(name="licensing.tasks.send_onboarding_mail", acks_late=True)
def send_onboarding_mail(license_id: int) -> int:
    """Queue a provisioned license's onboarding mail (if it is not yet) and deliver it."""
    lic = License.objects.select_related("partner", "policy", "infrastructure").get(pk=license_id)
    rows = notifications.queue_onboarding(lic)
    return sum(outbox.deliver_one(row.pk) for row in rows)


@shared_task(name="licensing.tasks.deliver_notification", acks_late=True)
def deliver_notification(notification_id: int) -> bool:
    return outbox.deliver_one(notification_id)


@shared_task(name="licensing.tasks.deliver_notifications", acks_late=True)
def deliver_notifications(notification_ids: list[int]) -> int:
    """These rows now, whatever their backoff (each failure is recorded on its row)."""
    return sum(outbox.deliver_one(pk) for pk in notification_ids)
