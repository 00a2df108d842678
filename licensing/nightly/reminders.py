"""The nightly reminders: the one reminder owed per active license in its policy's window."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Case, CharField, Exists, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import Cast

from .. import selectors
from ..choices import LicenseState, NotificationKind
from ..models import License, LicensePolicy, Notification, reminder_params
from . import bulk
from .bulk import Context


def owed_offset(policies: list[LicensePolicy], day: date) -> Case:
    """The reminder owed on `day`, in SQL: the smallest configured N of the license's
    policy with ends_on - day <= N (larger ones are skipped, never sent late; NULL outside
    every window)."""
    return Case(
        *(
            When(policy_id=policy.pk, ends_on__lte=day + timedelta(days=n), then=Value(n))
            for policy in policies
            for n in sorted(policy.reminder_day_list)
        ),
        output_field=IntegerField(),
    )


def send_reminders(ctx: Context) -> None:
    """The one reminder due per active license ending within its policy's window.

    Most licenses of the windows had tonight's reminder already: the database leaves them
    out (no reminder recorded for this end date and offset, looked up by the index
    `notification_reminder_sent`, so the reminders of past years are never read), and only
    the addresses of the licenses still owed one are read. One query for every policy.
    """
    policies = [p for p in LicensePolicy.objects.all() if p.reminder_day_list]
    if not policies:
        return
    ends_on, days = reminder_params()
    # This end date's reminder for the offset owed today, already on record.
    reminded = Notification.objects.alias(_ends=ends_on, _days=days).filter(
        kind=NotificationKind.REMINDER,
        license=OuterRef("pk"),
        _ends=Cast(OuterRef("ends_on"), output_field=CharField()),
        _days=Cast(OuterRef("_owed"), output_field=CharField()),
    )
    last_day = {p.pk: ctx.day + timedelta(days=max(p.reminder_day_list)) for p in policies}
    in_its_window = Q()
    for pk, last in last_day.items():
        in_its_window |= Q(policy=pk, ends_on__lte=last)
    window = ctx.mine(
        License.objects.filter(
            in_its_window,
            state=LicenseState.ACTIVE,
            # The widest window as a range of the (state, ends_on) index.
            ends_on__gte=ctx.day,
            ends_on__lte=max(last_day.values()),
        )
    )
    owed = dict(
        window.annotate(_owed=owed_offset(policies, ctx.day))
        .filter(~Exists(reminded))
        .order_by("pk")
        .values_list("pk", "_owed")
    )
    todo = list(owed)
    for start in range(0, len(todo), bulk.BATCH):
        rows = []
        part = todo[start : start + bulk.BATCH]
        for pk, partner_id, region_id, ends_on, emails in selectors.recipients_of(part):
            n = owed[pk]
            for email in emails:
                rows.append(
                    Notification(
                        kind=NotificationKind.REMINDER,
                        license_id=pk,
                        partner_id=partner_id,
                        region_id=region_id,
                        recipient=email,
                        template="reminder",
                        params={"days": n, "ends_on": ends_on.isoformat()},
                        key=f"reminder:{pk}:{ends_on}:{n}:{email.lower()}",
                    )
                )
        with transaction.atomic():
            ctx.counts["reminders"] += ctx.queue_mail(rows)
