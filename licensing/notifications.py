"""Mail, written once: each (mail, recipient) is a Notification row with a unique key.

`queue` and `queue_many` record what is to be sent, in the transaction of the change that
causes it; a key already on record is not queued again, so a task retried, a nightly run
repeated or a crash followed by a rerun never makes a second mail. `licensing.outbox`
sends them. The mail is rendered when it is sent, from the row's template and params and
the current data: the subject and the text without HTML escaping, the HTML escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.views.decorators.debug import sensitive_variables

from partners import bulk_sql
from partners.validators import has_line_break

from .choices import NotificationKind
from .models import Infrastructure, License, Notification

logger = logging.getLogger(__name__)

RECIPIENT_LINE_BREAK = (
    "A recipient address must be on one line: {recipient!r} has a line break; nothing was queued."
)


def check_recipients(recipients: Iterable[str]) -> None:
    """A line break in an address would end the To header and start one of its own (a Bcc):
    refused when the mail is written, so no such row reaches the outbox."""
    for recipient in recipients:
        if has_line_break(recipient):
            raise ValidationError(
                RECIPIENT_LINE_BREAK.format(recipient=recipient), code="line_break"
            )


def render_text(name: str, context: dict) -> str:
    """A plain-text template, not HTML-escaped: O'Brien stays O'Brien, not O&#x27;Brien."""
    return get_template(name).template.render(Context(context, autoescape=False))


def render_mail(template: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) of templates/mail/<template>.{subject.txt,txt,html}."""
    subject = " ".join(render_text(f"mail/{template}.subject.txt", context).split())
    text = render_text(f"mail/{template}.txt", context)
    html = render_to_string(f"mail/{template}.html", context)
    return subject, text, html


def queue(
    *,
    key: str,
    kind: str,
    recipient: str,
    template: str,
    params: dict | None = None,
    license: License | None = None,
    partner=None,
) -> Notification:
    check_recipients([recipient])
    notification, _ = Notification.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "recipient": recipient,
            "template": template,
            "params": params or {},
            "license": license,
            "partner": partner,
        },
    )
    return notification


def queue_many(rows: Iterable[Notification | bulk_sql.Values]) -> int:
    """Record the rows whose key is new; return how many were new.

    One query for any number of rows on PostgreSQL, two elsewhere (the keys already known
    first). A row whose address has a line break is left out and logged, never written:
    one bad address (entered before such addresses were refused) must not stop a nightly
    batch.
    """
    rows = list(rows)
    bad = [r for r in rows if has_line_break(r.recipient)]
    for row in bad:
        logger.warning("not queued: %s has a line break in its recipient", row.key)
    rows = [r for r in rows if not has_line_break(r.recipient)]
    # A key on record (or inserted a moment ago by a concurrent run) is left as it is.
    return bulk_sql.insert_new(Notification, rows, unique="key")


def context_for(notification: Notification) -> dict:
    lic, params = notification.license, notification.params
    context = {
        "notification": notification,
        "license": lic,
        "partner": lic.partner if lic else notification.partner,
        "params": params,
        "site_url": settings.SITE_URL,
    }
    if notification.kind == NotificationKind.ONBOARDING:
        context.update(onboarding_context(lic, notification.recipient))
    elif notification.kind == NotificationKind.CODE_REISSUED:
        context["activation_code"] = reissued_code(lic, params)
    elif notification.kind == NotificationKind.OVERDUE_ALERT:
        context["licenses"] = (
            License.objects.filter(pk__in=params.get("license_ids", []))
            .select_related("policy", "partner")
            .order_by("provisioning_due_on")
        )
    elif notification.kind == NotificationKind.UPGRADE_REPORT:
        context["infrastructures"] = (
            Infrastructure.objects.filter(pk__in=params.get("infrastructure_ids", []))
            .select_related("owner_partner", "platform_release")
            .order_by("platform_release__released_on", "name")
        )
    return context


@sensitive_variables()
def onboarding_context(lic: License, recipient: str) -> dict:
    infra = lic.infrastructure
    environments = list(infra.environments.all()) if infra else []
    contact = lic.partner.contacts.filter(email__iexact=recipient).first()
    return {
        "contact": contact,
        "infrastructure": infra,
        "environments": environments,
        "development": next((e for e in environments if e.name == "Development"), None),
        "lifetime": next((e for e in environments if e.name == "LifeTime"), None),
        "activation_code": lic.activation_code,
        "portal_url": f"{settings.SITE_URL}/portal/",
    }


@sensitive_variables()
def reissued_code(lic: License, params: dict) -> str:
    """The reissued code, read from the license when the mail is sent (never stored in the
    params the admin shows); empty when it was replaced again since this mail was written."""
    if lic is None or lic.activation_code_sequence != params.get("sequence"):
        return ""
    return lic.activation_code


def queue_onboarding(lic: License) -> list[Notification]:
    """The onboarding mail of a provisioned license, one row per contact (financial and
    technical). Cloud: Development and LifeTime endpoints and the activation code;
    on-premises: the activation code and the licensing portal link."""
    template = "onboarding_cloud" if lic.is_cloud else "onboarding_on_premises"
    return [
        queue(
            key=f"onboarding:{lic.pk}:{contact.email.lower()}",
            kind=NotificationKind.ONBOARDING,
            recipient=contact.email,
            template=template,
            license=lic,
            partner=lic.partner,
        )
        for contact in lic.partner.contacts.order_by("role")
    ]
