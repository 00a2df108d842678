"""Mail, sent once: each (mail, recipient) has a Notification row with a unique key."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .choices import NotificationKind
from .models import License, Notification

logger = logging.getLogger(__name__)


def render_mail(template: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) of templates/mail/<template>.{subject.txt,txt,html}."""
    subject = render_to_string(f"mail/{template}.subject.txt", context).strip()
    text = render_to_string(f"mail/{template}.txt", context)
    html = render_to_string(f"mail/{template}.html", context)
    return subject, text, html


def send_once(
    *,
    key: str,
    kind: str,
    recipient: str,
    template: str,
    context: dict,
    license: License | None = None,
    partner=None,
) -> bool:
    """Send the mail unless a mail with this key was sent already. True when sent now.

    The row is locked while sending, so two workers retrying the same mail cannot both
    send it; a failed send rolls the row back and the task's retry tries again.
    """
    with transaction.atomic():
        notification, _ = Notification.objects.select_for_update().get_or_create(
            key=key,
            defaults={
                "kind": kind,
                "recipient": recipient,
                "license": license,
                "partner": partner,
            },
        )
        if notification.sent_at:
            return False
        subject, text, html = render_mail(template, context)
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [recipient])
        message.attach_alternative(html, "text/html")
        message.send()
        notification.subject = subject
        notification.sent_at = timezone.now()
        notification.save(update_fields=["subject", "sent_at"])
    # The key names the mail and recipient, never a secret: safe to log.
    logger.info("sent %s", key)
    return True


def onboarding_context(lic: License, contact) -> dict:
    infra = lic.infrastructure
    environments = list(infra.environments.all()) if infra else []
    return {
        "license": lic,
        "contact": contact,
        "partner": lic.partner,
        "infrastructure": infra,
        "environments": environments,
        "development": next((e for e in environments if e.name == "Development"), None),
        "lifetime": next((e for e in environments if e.name == "LifeTime"), None),
        "activation_code": lic.activation_code,
        "portal_url": f"{settings.SITE_URL}/portal/",
    }


def send_onboarding(lic: License) -> int:
    """The onboarding mail of a provisioned license to its financial and technical contact.

    Cloud: Development and LifeTime endpoints and the activation code; on-premises: the
    activation code and the licensing portal link. Returns how many were sent now.
    """
    sent = 0
    for contact in lic.partner.contacts.order_by("role"):
        sent += send_once(
            key=f"onboarding:{lic.pk}:{contact.email.lower()}",
            kind=NotificationKind.ONBOARDING,
            recipient=contact.email,
            template="onboarding_cloud" if lic.is_cloud else "onboarding_on_premises",
            context=onboarding_context(lic, contact),
            license=lic,
            partner=lic.partner,
        )
    return sent
