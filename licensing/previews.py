"""What a license's mails look like, rendered from the real templates, for the admin preview.

Each preview is built as the mail is (the lifecycle ones by `licensing.mails`, with the same
recipients and params) from the license as it is today; an event that has not happened
yet (an active license's expiry, a request not decided) is shown as it would be, and a note
says so.

The activation code is a secret shown once, at provisioning: a preview carries the masked
code in its context, and any rendering that still held the real code is masked afterwards,
so a template change can never leak it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from partners.choices import IncidentKind
from partners.dates import today

from . import lifecycle, mails
from .calendar import add_business_days
from .choices import (
    ExtensionReason,
    ExtensionState,
    Hosting,
    LicenseKind,
    LicenseState,
    NotificationKind,
)
from .models import License, Notification
from .notifications import context_for, render_mail
from .selectors import People, people_of, reminder_recipients

ONBOARDING = "onboarding"
REMINDER = "reminder"
REQUEST = "request"
EXPIRED = "expired"
CANCELLED = "cancelled"
EXTENSION = "extension"
ACTIVE_AGAIN = "active_again"
INCIDENT = "incident_opened"
CODE = "code_reissued"
KINDS = {
    ONBOARDING: "Onboarding mail",
    REMINDER: "Reminder mail",
    REQUEST: "Request decision mail",
    EXPIRED: "Expiry mail",
    CANCELLED: "Cancellation mail",
    EXTENSION: "Extension decision mail",
    ACTIVE_AGAIN: "Active-again mail",
    INCIDENT: "Incident mail",
    CODE: "Reissued-code mail",
}
UNISSUED_CODE = "••••-••••-••••-••••"
NOBODY = "Nobody would receive it"
# Where a reason is not known until the event happens.
REASON_TO_COME = "(the reason given when it happens)"


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
    notes: list[str] = []
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
    elif kind in LIFECYCLE:
        mail = LIFECYCLE[kind](lic, people_of([lic.pk])[lic.pk], notes)
        template, recipients, params = mail.template, mail.recipients, mail.params
        notification_kind = mail.kind
    else:
        raise ValueError(f"Unknown mail {kind!r}.")
    if not recipients and not any(note.startswith(NOBODY) for note in notes):
        notes.append(f"{NOBODY}: nobody with an address is on record for it.")

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


# --- The lifecycle mails, as `licensing.mails` makes them ---------------------------------


def _request(lic: License, people: People, notes: list[str]) -> mails.Mail:
    if lic.state == LicenseState.REFUSED:
        return mails.request_refused(people, decided_on=lic.decided_on, reason=lic.state_reason)
    if lic.state == LicenseState.REQUESTED:
        notes.append("Not decided yet: shown as approved today.")
    decided_on = lic.decided_on or today()
    due = lic.provisioning_due_on or add_business_days(
        decided_on, lic.policy.provisioning_business_days, lic.partner.country.code
    )
    return mails.request_approved(people, decided_on=decided_on, provisioning_due_on=due)


def _expired(lic: License, people: People, notes: list[str]) -> mails.Mail:
    if lic.expired_on:
        reasons = lic.history.filter(
            history_change_reason__startswith=lifecycle.EXPIRED_BECAUSE
        ).values_list("history_change_reason", flat=True)
        last = reasons.order_by("-history_date").first()
        why = lifecycle.why_expired(last or "") or REASON_TO_COME
        return mails.expired(people, expired_on=lic.expired_on, reason=why)
    # Not expired: what the night would say the day after its end.
    ends_on = lic.ends_on or today()
    notes.append(f"Not expired: shown as it would be the day after its end ({ends_on}).")
    as_it_ends = License(pk=lic.pk, ends_on=ends_on)
    if lic.policy.kind == LicenseKind.TL:
        change = lifecycle.expire_trial(as_it_ends)
    else:
        change = lifecycle.renew_or_expire(as_it_ends, lic.partner)
    why = lifecycle.why_expired(change.reason)
    if why is None:
        notes.append("The partner is in good standing that day: it would renew, not expire.")
    return mails.expired(
        people, expired_on=ends_on + lifecycle.ONE_DAY, reason=why or REASON_TO_COME
    )


def _cancelled(lic: License, people: People, notes: list[str]) -> mails.Mail:
    if lic.state == LicenseState.CANCELLED:
        return mails.cancelled(people, cancelled_on=lic.cancelled_on, reason=lic.state_reason)
    if lic.state == LicenseState.EXPIRED:
        # What the night will say at the end of the grace period.
        on = lic.expired_on + timedelta(days=lic.policy.grace_days)
        notes.append(f"Not cancelled: shown as the night would cancel it on {on}.")
        change = lifecycle.cancel_after_grace(lic, grace_days=lic.policy.grace_days, on=on)
        return mails.cancelled(people, cancelled_on=on, reason=change.values["state_reason"])
    notes.append("Not cancelled: shown as if it were cancelled today.")
    return mails.cancelled(people, cancelled_on=today(), reason=REASON_TO_COME)


def _extension(lic: License, people: People, notes: list[str]) -> mails.Mail:
    ext = lic.extensions.select_related("requested_by").order_by("-pk").first()
    if ext is None:
        until = (lic.ends_on or today()) + timedelta(days=lic.policy.extension_max_days or 30)
        notes.append(f"No extension asked for: shown as one granted to {until}.")
        reason = (
            ExtensionReason.TRIAL_SALES_CYCLE
            if lic.policy.kind == LicenseKind.TL
            else ExtensionReason.LEGAL_CONSTRAINTS
        )
        return mails.extension_granted(
            people, extension_id=0, requester=people.requester, until=until, reason=reason.label
        )
    if ext.state == ExtensionState.REFUSED:
        return mails.extension_refused(
            people,
            extension_id=ext.pk,
            requester=ext.requested_by.email,
            requested_until=ext.requested_until,
            reason=ext.refusal_reason,
        )
    if ext.state == ExtensionState.REQUESTED:
        notes.append("Not decided yet: shown as granted.")
    return mails.extension_granted(
        people,
        extension_id=ext.pk,
        requester=ext.requested_by.email,
        until=ext.requested_until,
        reason=ext.get_reason_display(),
    )


def _active_again(lic: License, people: People, notes: list[str]) -> mails.Mail:
    if lic.hosting != Hosting.ON_PREMISES:
        notes.append(f"{NOBODY}: a cloud license has no license file to install.")
    if lic.ends_on is None:
        notes.append("Not provisioned yet: the end date comes at provisioning.")
    why = mails.RENEWED if lic.state == LicenseState.ACTIVE else mails.REACTIVATED
    return mails.active_again(people, ends_on=lic.ends_on or today(), why=why)


def _incident(lic: License, people: People, notes: list[str]) -> mails.Mail:
    incident = lic.incidents.exclude(usage_report=None).order_by("-opened_on", "-pk").first()
    if incident is None:
        notes.append("No incident opened by the usage check: shown as one opened today.")
        sample = "Application objects 2,650 over the limit of 2,400 (an example)"
        return mails.incident_opened(
            people,
            incident_id=0,
            kind=IncidentKind.OVER_LIMIT.label,
            opened_on=today(),
            notes=sample,
            team_mailbox=settings.LICENSING_TEAM_EMAIL,
        )
    return mails.incident_opened(
        people,
        incident_id=incident.pk,
        kind=incident.get_kind_display(),
        opened_on=incident.opened_on,
        notes=incident.notes,
        team_mailbox=settings.LICENSING_TEAM_EMAIL,
    )


def _code(lic: License, people: People, notes: list[str]) -> mails.Mail:
    if lic.activation_code_sequence <= 1:
        notes.append("The code was never reissued: shown as the first reissue would be.")
    notes.append("The code is masked here; the mail carries the new code in full.")
    return mails.code_reissued(people, sequence=max(lic.activation_code_sequence, 2))


LIFECYCLE = {
    REQUEST: _request,
    EXPIRED: _expired,
    CANCELLED: _cancelled,
    EXTENSION: _extension,
    ACTIVE_AGAIN: _active_again,
    INCIDENT: _incident,
    CODE: _code,
}
