"""What a license's mails look like, rendered from the real templates, for the admin preview.

The activation code is a secret shown once, at provisioning: a preview carries the masked
code in its context, and any rendering that still held the real code is masked afterwards,
so a template change can never leak it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .choices import NotificationKind
from .models import License, Notification
from .notifications import context_for, render_mail
from .selectors import reminder_recipients

ONBOARDING = "onboarding"
REMINDER = "reminder"
KINDS = {ONBOARDING: "Onboarding mail", REMINDER: "Reminder mail"}
UNISSUED_CODE = "••••-••••-••••-••••"


@dataclass(frozen=True)
class MailPreview:
    kind: str
    template: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    notes: list[str]


def masked_code(lic: License) -> str:
    return lic.masked_activation_code if lic.activation_code else UNISSUED_CODE


def preview(lic: License, kind: str) -> MailPreview:
    """The mail of `kind` for `lic` as it would be sent now (to its first recipient)."""
    notes = []
    if kind == ONBOARDING:
        template = "onboarding_cloud" if lic.is_cloud else "onboarding_on_premises"
        recipients = [c.email for c in lic.partner.contacts.order_by("role")]
        params: dict = {}
        notification_kind = NotificationKind.ONBOARDING
        if lic.infrastructure_id is None:
            notes.append("Not provisioned yet: dates, endpoints and the code come at provisioning.")
    elif kind == REMINDER:
        template = "reminder"
        recipients = reminder_recipients(lic)
        offsets = lic.policy.reminder_day_list
        # The smallest offset: the last reminder before the end, the one most people read.
        days = offsets[0] if offsets else 0
        params = {"days": days, "ends_on": lic.ends_on.isoformat() if lic.ends_on else ""}
        notification_kind = NotificationKind.REMINDER
        if not offsets:
            notes.append(f"The {lic.policy.name} policy sends no reminders.")
        if lic.ends_on is None:
            notes.append("Not provisioned yet: the end date comes at provisioning.")
    else:
        raise ValueError(f"Unknown mail {kind!r}.")
    if not recipients:
        notes.append("Nobody would receive it: the partner has no contact for it.")

    notification = Notification(
        kind=notification_kind,
        license=lic,
        partner=lic.partner,
        recipient=recipients[0] if recipients else "",
        template=template,
        params=params,
    )
    context = context_for(notification)
    context["activation_code"] = masked_code(lic)
    subject, text, html = render_mail(template, context)
    if lic.activation_code:
        subject, text, html = (
            part.replace(lic.activation_code, masked_code(lic)) for part in (subject, text, html)
        )
    return MailPreview(kind, template, recipients, subject, text, html, notes)
