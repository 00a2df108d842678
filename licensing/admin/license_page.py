"""The license page read top-down: a summary (number, kind, partner, state, days left,
partner standing, next step), then a timeline of what happened (history, mails, extensions,
license files), then the details (limits as a table with the latest usage next to each,
environments as a list). Each part costs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from partners.admin_tools.readable import Names, entries, plain, previous_map
from partners.dates import today
from partners.services import standing

from ..choices import LicenseState
from ..models import License, UsageReport
from ..usage_levels import MEASURES, figure_text

# The newest events only: the page stays short whatever a license's age.
TIMELINE_LENGTH = 60


def number(lic: License) -> str:
    return f"{lic.policy.kind}-{lic.pk}"


def days_left(lic: License, day: date) -> str:
    """ "ends in 12 days", "ends today", "ended 3 days ago" for a license that has an end."""
    if not lic.ends_on:
        return ""
    n = (lic.ends_on - day).days
    if n > 1:
        return f"ends in {n} days ({lic.ends_on:%Y-%m-%d})"
    if n == 1:
        return f"ends tomorrow ({lic.ends_on:%Y-%m-%d})"
    if n == 0:
        return f"ends today ({lic.ends_on:%Y-%m-%d})"
    return f"ended {-n} day{'s' if n < -1 else ''} ago ({lic.ends_on:%Y-%m-%d})"


def next_step(lic: License, day: date) -> str:
    """What happens next to this license and who acts on it."""
    state = lic.state
    if state == LicenseState.REQUESTED:
        return "The licensing team approves or refuses the request."
    if state == LicenseState.APPROVED:
        due = lic.provisioning_due_on
        if due and due < day:
            return f"The licensing team provisions it: overdue since {due:%Y-%m-%d}."
        return f"The licensing team provisions it by {due:%Y-%m-%d}." if due else ""
    if state == LicenseState.ACTIVE:
        if lic.policy.kind == "TL":
            if lic.opportunity_id and lic.opportunity.status == "won":
                return "Deal won: its solution architect validates the conversion."
            return "Its solution architect may extend it; it expires after its last day."
        return "Renewed on its end date when the partner is in good standing, else expired."
    if state == LicenseState.EXPIRED and lic.expired_on:
        cancel_on = lic.expired_on.toordinal() + lic.policy.grace_days
        return (
            "No publishing. Cancelled on "
            f"{date.fromordinal(cancel_on):%Y-%m-%d} unless extended or back in good standing."
        )
    return "Nothing: the license has ended."


def summary(lic: License, user, day: date | None = None) -> dict:
    day = day or today()
    good = standing(lic.partner, on=day)
    return {
        "number": number(lic),
        "kind": lic.policy.name,
        "partner": lic.partner,
        "partner_url": reverse("admin:partners_partner_change", args=[lic.partner_id]),
        "licensee": lic.licensee_name,
        "state": lic.get_state_display(),
        "state_reason": lic.state_reason,
        "days_left": days_left(lic, day),
        "standing_good": good.good,
        "standing_reasons": good.reasons,
        "next_step": next_step(lic, day),
    }


@dataclass
class Event:
    when: datetime
    what: str
    who: str = ""
    why: str = ""
    detail: str = ""

    @property
    def when_text(self) -> str:
        return plain(self.when)


def at(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def timeline(lic: License) -> list[Event]:
    """History, mails, extensions and license files of the license, newest first."""
    names = Names()
    history = list(
        lic.history.select_related("history_user").order_by("-history_date", "-history_id")[
            :TIMELINE_LENGTH
        ]
    )
    previous = previous_map(License.history.model, [lic.pk])
    events = [
        Event(
            e.when,
            e.action,
            e.who,
            e.why if e.why != "—" else "",
            e.changes_text,
        )
        for e in entries(License, history, previous, names)
    ]
    events += mail_events(lic)
    for ext in lic.extensions.select_related("requested_by", "decided_by").order_by("-id")[
        :TIMELINE_LENGTH
    ]:
        events.append(
            Event(
                at(ext.requested_on),
                f"Extension to {ext.requested_until:%Y-%m-%d} requested",
                names_of(ext.requested_by),
                ext.get_reason_display(),
            )
        )
        if ext.decided_at:
            events.append(
                Event(
                    ext.decided_at,
                    f"Extension to {ext.requested_until:%Y-%m-%d} "
                    + ext.get_state_display().lower(),
                    names_of(ext.decided_by),
                    ext.refusal_reason,
                )
            )
    for issue in lic.file_issues.select_related("by").order_by("-issued_at", "-id")[
        :TIMELINE_LENGTH
    ]:
        events.append(
            Event(
                issue.issued_at,
                f"License file #{issue.file_serial} handed out ({issue.get_via_display().lower()})",
                names_of(issue.by),
            )
        )
    events.sort(key=lambda e: e.when, reverse=True)
    return events[:TIMELINE_LENGTH]


def mail_events(lic: License) -> list[Event]:
    """One line per mail sent for one event, its recipients together (the key without its
    recipient names the event)."""
    grouped: dict[str, list] = {}
    for mail in lic.notifications.order_by("-created_at", "-id")[: TIMELINE_LENGTH * 3]:
        grouped.setdefault(mail.key.rsplit(":", 1)[0], []).append(mail)
    events = []
    for mails in grouped.values():
        first = mails[-1]
        unsent = sum(1 for m in mails if not m.sent_at)
        state = f"{unsent} not sent yet" if unsent else "sent"
        recipients = ", ".join(sorted({m.recipient for m in mails}))
        events.append(
            Event(
                first.created_at,
                f"Mail: {first.get_kind_display()}",
                detail=f"{first.subject or ''} — to {recipients} ({state})".lstrip(" —"),
            )
        )
    return events


def names_of(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def latest_usage(lic: License) -> UsageReport | None:
    if not lic.infrastructure_id:
        return None
    reports = UsageReport.objects.filter(infrastructure_id=lic.infrastructure_id)
    return reports.order_by("-reported_on", "-pk").first()


LIMIT_LABELS = {m.limit: m for m in MEASURES}


class LicensePageMixin:
    """For LicenseAdmin: the summary and timeline above the form, and the details readable."""

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["license_summary"] = summary(obj, request.user)
            context["license_timeline"] = timeline(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="environments")
    def environments(self, lic: License) -> str:
        found = [n.strip() for n in (lic.environment_names or "").split(",") if n.strip()]
        if not found:
            return "—"
        return format_html(
            '<ul style="margin:0;padding-left:1.2em">{}</ul>',
            format_html_join("", "<li>{}</li>", ((n,) for n in found)),
        )

    @admin.display(description="limits")
    def limits_table(self, lic: License) -> str:
        limits = lic.limits or {}
        if not limits:
            return "—"
        report = latest_usage(lic)
        rows = []
        for key, limit in limits.items():
            measure = LIMIT_LABELS.get(key)
            used = "—"
            if report is not None and measure is not None:
                used = figure_text(getattr(report, measure.field))
            rows.append((key.replace("_", " ").capitalize(), figure_text(limit), used))
        head = f"used (reported {report.reported_on:%Y-%m-%d})" if report else "used"
        return format_html(
            '<table class="license-limits"><thead><tr><th>limit</th><th>allowed</th>'
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            head,
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )
