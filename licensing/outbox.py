"""The outbox: every mail is a Notification row written in the transaction of the change
that causes it, and sent from here, never lost and never sent twice.

`deliver_notifications` takes the pending rows that are due, one at a time, each locked
with SKIP LOCKED: two workers share the work, and a row one of them is sending is
invisible to the other. Each row is sent once; on failure it is not:
- a transient error (the server unreachable or busy, a 4xx answer) leaves it pending with
  `attempts` + 1, the error, and a later `next_attempt_at` (exponential backoff);
- a permanent one (a 5xx refusal such as SMTPRecipientsRefused, a bad header, a template
  error), or the last of MAX_ATTEMPTS, sets `failed_at`: the licensing team sees it under
  Notifications › failed and sends it again from there.
One bad row never stops the others. A crash between writing a row and sending it loses
nothing: the next delivery finds it pending.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .models import Notification
from .notifications import context_for, render_mail

logger = logging.getLogger(__name__)

# The 8th failed attempt is the last: the row is failed, for a person to look at.
MAX_ATTEMPTS = 8
# Waits between attempts: 1, 2, 4 … minutes, at most an hour.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)

# Errors that no retry will mend: the address or the message itself is refused.
PERMANENT = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    BadHeaderError,
    TemplateDoesNotExist,
    TemplateSyntaxError,
    ValueError,  # a header with a line break, an address Django cannot encode
)


def pending() -> QuerySet[Notification]:
    """Mail not sent yet and not given up on."""
    return Notification.objects.filter(sent_at__isnull=True, failed_at__isnull=True)


def due(now) -> QuerySet[Notification]:
    """Pending mail whose next attempt is now or past (or that was never tried)."""
    return pending().filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def is_permanent(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPResponseException):
        # 5xx: refused for good; 4xx: try again later.
        return error.smtp_code >= 500
    return isinstance(error, PERMANENT)


def backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


@sensitive_variables()
def send(notification: Notification) -> None:
    """Render and send one row's mail (raises what the template or the server raises)."""
    subject, text, html = render_mail(notification.template, context_for(notification))
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [notification.recipient]
    )
    message.attach_alternative(html, "text/html")
    message.send()
    notification.subject = subject[:300]


def attempt(notification: Notification) -> bool:
    """Send a locked row now and record the outcome on it; True when it was sent."""
    now = timezone.now()
    try:
        send(notification)
    except Exception as error:  # noqa: BLE001 - any failure is recorded, none stops the batch
        notification.attempts += 1
        notification.last_error = f"{type(error).__name__}: {error}"[:2000]
        if is_permanent(error) or notification.attempts >= MAX_ATTEMPTS:
            notification.failed_at = now
        else:
            notification.next_attempt_at = now + backoff(notification.attempts)
        notification.save(update_fields=["attempts", "last_error", "failed_at", "next_attempt_at"])
        # The key names the mail and recipient, never a secret: safe to log.
        logger.warning("mail %s not sent: %s", notification.key, notification.last_error)
        return False
    notification.attempts += 1
    notification.sent_at, notification.last_error, notification.next_attempt_at = now, "", None
    notification.save(
        update_fields=["subject", "sent_at", "attempts", "last_error", "next_attempt_at"]
    )
    logger.info("sent %s", notification.key)
    return True


def deliver_notifications(*, limit: int | None = None, on_sent=None) -> int:
    """Send every pending mail that is due, once; return how many were sent.

    Each mail is taken, sent and marked in a transaction of its own: a crash (a killed
    worker, a lost connection) leaves every mail before it marked sent and every mail
    after it pending, with at most the one in flight in doubt. SKIP LOCKED lets another
    worker take the next row meanwhile. `on_sent()`, if given, is called in the
    transaction of each mail sent (the nightly run counts its mail that way).
    """
    sent = tried = 0
    now = timezone.now()
    while limit is None or tried < limit:
        with transaction.atomic():
            notification = (
                due(now)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("license__policy", "license__partner", "license__infrastructure")
                .order_by("pk")
                .first()
            )
            if notification is None:
                break
            if attempt(notification):
                sent += 1
                if on_sent is not None:
                    on_sent()
        tried += 1
    return sent


def deliver_one(notification_id: int) -> bool:
    """Send one row now if it is still pending (whatever its backoff); True when sent."""
    with transaction.atomic():
        notification = (
            pending()
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=notification_id)
            .first()
        )
        return attempt(notification) if notification else False


def send_again(notifications: QuerySet[Notification], *, by=None) -> int:
    """Failed mail back in the outbox, its attempts counted afresh; how many."""
    count = 0
    for notification in notifications.filter(sent_at__isnull=True, failed_at__isnull=False):
        notification.failed_at = notification.next_attempt_at = None
        notification.attempts = 0
        notification._history_user, notification._change_reason = by, "sent again"
        notification.save(update_fields=["failed_at", "next_attempt_at", "attempts"])
        count += 1
    return count
