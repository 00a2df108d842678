"""The nightly run: renew, expire, reactivate, cancel, remind, flag late provisioning and
report platform upgrades, for one day.

Every step picks the licenses due that day with an indexed query, works through them in
batches of BATCH (bulk updates with bulk history, no query per license) in one transaction
per batch, and leaves them no longer due: running the same day twice changes nothing, and
a run that crashed halfway finishes the rest when run again. Mails are Notification rows
with unique keys, delivered by tasks queued after each batch commits.

The dates follow SPEC "Dates": `ends_on` is the last valid day; the run for day D handles
every license with `ends_on < D`, so a missed night is caught up by the next one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import Cast, Mod
from django.utils import timezone

from partners import dashboard_cache
from partners.choices import PartnerStatus
from partners.models import Contact, Opportunity, Partner
from partners.services import standing
from partners.services import today as utc_today

from . import notifications
from .choices import LicenseKind, LicenseState, NotificationKind, RunStatus
from .models import (
    Infrastructure,
    License,
    LicensePolicy,
    NightlyRun,
    Notification,
    PlatformRelease,
    reminder_params,
)

logger = logging.getLogger(__name__)

# Licenses per transaction: what a step locks, holds in memory and writes in one UPDATE.
# 2,000 rows lock for a fraction of a second; 500 made the night spend more on round
# trips and commits than on the rows themselves.
BATCH = 2000
# Long enough for a large run, short enough that a crashed worker's lock frees itself.
LOCK_SECONDS = 30 * 60
PARTNER_PROGRAM = (LicenseKind.DL, LicenseKind.IL)
# What a run reports, every key present (0 when nothing was due).
ACTIONS = (
    "renewed",
    "expired",
    "reactivated",
    "trials_expired",
    "cancelled",
    "partners_former",
    "reminders",
    "overdue_flagged",
    "overdue_alerts",
    "upgrade_reports",
)


def system_user():
    """The author of the nightly run's history rows."""
    user, _ = get_user_model().objects.get_or_create(
        username="system",
        defaults={"first_name": "Nightly", "last_name": "jobs", "is_active": False},
    )
    return user


def run_nightly(
    *,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    chunk: tuple[int, int] | None = None,
) -> dict:
    """Run the nightly steps for `today` (default: today, UTC); return counts by action.

    With `chunk=(i, k)` only the license steps run, on the licenses whose id % k == i:
    k workers share one night (see tasks.run_nightly), and `run_global` then does the
    partner and report steps once. Each license's steps stay in order within its chunk,
    so the night ends the same as in one process.
    """
    steps = LICENSE_STEPS if chunk else STEPS
    return _run(today or utc_today(), steps, progress, chunk=chunk)


def run_global(*, today: date | None = None, progress=None) -> dict:
    """The steps that look at the whole night's result: former partners, upgrade report."""
    return _run(today or utc_today(), GLOBAL_STEPS, progress, part="global")


def _run(day: date, steps, progress, chunk=None, part="") -> dict:
    say = progress or (lambda message: None)
    part = part or (f"chunk {chunk[0] + 1}/{chunk[1]}" if chunk else "")
    run = NightlyRun.objects.create(
        day=day, part=part, started_at=timezone.now(), status=RunStatus.RUNNING
    )
    # "chunk 2/4" -> "chunk-2-of-4": a key any cache backend accepts.
    lock = f"nightly-run:{day.isoformat()}:{(part or 'all').replace(' ', '-').replace('/', '-of-')}"
    # A second beat or worker on the same day waits its turn: it finds the lock taken and
    # records a skipped run (the first one's work is idempotent anyway).
    if not cache.add(lock, run.pk, timeout=LOCK_SECONDS):
        _finish(run, RunStatus.SKIPPED, {})
        say(f"another run for {day} holds the lock: skipped")
        return {"skipped": 1}
    counts: Counter = Counter(dict.fromkeys(ACTIONS, 0))
    context = Context(day=day, counts=counts, user=system_user(), say=say, chunk=chunk)
    try:
        for step in steps:
            started = time.monotonic()
            step(context)
            say(f"{step.__name__.replace('_', ' ')}: done in {time.monotonic() - started:.2f}s")
    except Exception as error:
        _finish(run, RunStatus.FAILED, counts, error=repr(error))
        logger.exception("nightly run for %s failed", day)
        raise
    finally:
        cache.delete(lock)
    _finish(run, RunStatus.FINISHED, counts)
    return dict(counts)


def _finish(run: NightlyRun, status: str, counts, error: str = "") -> None:
    run.status, run.counts, run.error = status, dict(sorted(counts.items())), error[:4000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "counts", "error", "finished_at"])


class Context:
    def __init__(self, *, day, counts, user, say, chunk=None):
        self.day, self.counts, self.user, self.say = day, counts, user, say
        self.chunk = chunk

    def mine(self, queryset):
        """The licenses of this chunk (all of them when the run is not split)."""
        if not self.chunk:
            return queryset
        index, chunks = self.chunk
        return queryset.alias(_bucket=Mod("id", chunks)).filter(_bucket=index)

    def save(self, objects: list, fields: list[str], model=License) -> None:
        """Write the changed fields with one history row each, authored by the system
        user; each object's `_change_reason` says why.

        What bulk_update_with_history does, at the database's speed and whatever the number
        of distinct values (renewals to each partner's own term end, expiry reasons naming
        each partner's failing conditions): one UPDATE … FROM a table of the new values
        (`_rows`), then one INSERT … SELECT copying the updated rows into the history table,
        joined to a table of the reasons. Same transaction, batches of BATCH rows.
        """
        if not objects:
            return
        # Bulk SQL sends no signals: the dashboard counts again once this commits.
        transaction.on_commit(dashboard_cache.data_changed)
        with transaction.atomic(savepoint=False):
            for start in range(0, len(objects), BATCH):
                part = objects[start : start + BATCH]
                self._update(model, part, fields)
                self._copy_history(model, part)

    def _update(self, model, objects: list, fields: list[str]) -> None:
        quote = connection.ops.quote_name
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        concrete = [model._meta.get_field(name) for name in fields]
        columns = [[obj.pk for obj in objects]] + [
            [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objects]
            for f in concrete
        ]
        names = ", ".join(["pk_"] + [f"v{i}" for i in range(len(concrete))])
        first, rows, first_params, rows_params = _rows([model._meta.pk, *concrete], columns, names)
        assign = ", ".join(f"{quote(f.column)} = v.v{i}" for i, f in enumerate(concrete))
        # Table and column names come from the models, values are parameters.
        sql = (
            f"{first}UPDATE {table} SET {assign} FROM {rows} "  # noqa: S608
            f"WHERE {table}.{pk} = v.pk_"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*first_params, *rows_params])

    def _copy_history(self, model, objects: list) -> None:
        """One history row per updated row, copied by the database (INSERT … SELECT)."""
        history = model.history.model
        own = {
            "history_id",
            "history_date",
            "history_change_reason",
            "history_type",
            "history_user_id",
        }
        quote = connection.ops.quote_name
        columns = [f.column for f in history._meta.concrete_fields if f.attname not in own]
        copied = ", ".join(f"t.{quote(c)}" for c in columns)
        first, rows, first_params, rows_params = _rows(
            [model._meta.pk, history._meta.get_field("history_change_reason")],
            [
                [obj.pk for obj in objects],
                [getattr(obj, "_change_reason", "") for obj in objects],
            ],
            "pk_, reason",
        )
        target = ", ".join(quote(c) for c in columns)
        sql = (
            f"{first}INSERT INTO {quote(history._meta.db_table)} ({target}, history_date, "  # noqa: S608
            "history_change_reason, history_type, history_user_id) "
            f"SELECT {copied}, %s, v.reason, '~', %s FROM {quote(model._meta.db_table)} t "
            f"JOIN {rows} ON t.{quote(model._meta.pk.column)} = v.pk_"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*first_params, timezone.now(), self.user.pk, *rows_params])

    def mail_after_commit(self, rows: list[Notification]) -> int:
        """Queue the mails; the unsent ones are delivered by one task once this commits.
        Returns how many were new (a rerun of the day finds them all known)."""
        from . import tasks

        new, unsent = notifications.queue_many(rows)
        if unsent:
            transaction.on_commit(partial(tasks.deliver_notifications.delay, unsent))
        return new


def _rows(fields, columns: list[list], names: str) -> tuple[str, str, list, list]:
    """A table `v (names)` of rows to join in SQL, one column per field.

    Returns the WITH clause to put first, the FROM item, and the parameters of each. On
    PostgreSQL the table is `unnest` of one array per column, a few parameters whatever
    the number of rows; elsewhere a VALUES list with a placeholder per value.
    """
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in fields)
        return "", f"unnest({arrays}) AS v ({names})", [], columns
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    values = [value for row_values in zip(*columns, strict=True) for value in row_values]
    rows = ", ".join([row] * len(columns[0]))
    return f"WITH v ({names}) AS (VALUES {rows}) ", "v", values, []


class Row(SimpleNamespace):
    """A license as a step reads and changes it: `pk` and the step's fields as plain
    attributes. Building 500 model instances took longer than the batch's UPDATE."""


def _batches(queryset, *fields: str):
    """Lock and yield batches of a queryset whose rows stop matching once handled, each
    license a `Row` of only the `fields` its step reads (and the ones it writes)."""
    while True:
        with transaction.atomic():
            # Ordered like the (state, ends_on) index, so the planner walks it: by id it
            # walks the primary key, unordered it misjudges the match and scans the table.
            locked = queryset.select_for_update(of=("self",)).order_by("ends_on", "pk")
            batch = [
                Row(pk=pk, **dict(zip(fields, values, strict=True)))
                for pk, *values in locked.values_list("pk", *fields)[:BATCH]
            ]
            if not batch:
                return
            yield batch


def _partners(licenses) -> dict[int, Partner]:
    ids = {lic.partner_id for lic in licenses}
    partners = Partner.objects.filter(pk__in=ids).prefetch_related("terms", "incidents")
    return {p.pk: p for p in partners}


# --- (a) partner-program licenses past their end: renew or expire ------------------------


def renew_or_expire(ctx: Context) -> None:
    due = ctx.mine(
        License.objects.filter(
            policy__kind__in=PARTNER_PROGRAM, state=LicenseState.ACTIVE, ends_on__lt=ctx.day
        )
    )
    for batch in _batches(due, "partner_id", "ends_on", "state", "expired_on"):
        partners = _partners(batch)
        renewed, expired = [], []
        for lic in batch:
            after = lic.ends_on + timedelta(days=1)
            result = standing(partners[lic.partner_id], on=after)
            if result.good:
                term = partners[lic.partner_id].term_covering(after)
                lic.ends_on = term.ends_on
                lic._change_reason = f"renewed to {term.ends_on}: partner in good standing"
                renewed.append(lic)
            else:
                lic.state, lic.expired_on = LicenseState.EXPIRED, after
                lic._change_reason = f"expired: {'; '.join(result.reasons)}"
                expired.append(lic)
        ctx.save(renewed, ["ends_on"])
        ctx.save(expired, ["state", "expired_on"])
        ctx.counts["renewed"] += len(renewed)
        ctx.counts["expired"] += len(expired)


def reactivate_within_grace(ctx: Context) -> None:
    """An expired DL/IL whose partner is in good standing again, within grace: active to
    the end of the term covering the day."""
    last_pk = 0
    grace = dict(
        LicensePolicy.objects.filter(kind__in=PARTNER_PROGRAM).values_list("pk", "grace_days")
    )
    # Only partners back in good standing are candidates (SQL); standing() below confirms
    # each one. Asked per license in grace (correlated), not of every partner first: the
    # licenses in grace are few, the partners are the whole table.
    back_in_good_standing = Exists(
        Partner.objects.in_good_standing(ctx.day).filter(pk=OuterRef("partner_id"))
    )
    while True:
        with transaction.atomic():
            batch = list(
                ctx.mine(License.objects.select_for_update(of=("self",)))
                .filter(
                    back_in_good_standing,
                    policy__in=list(grace),
                    state=LicenseState.EXPIRED,
                    expired_on__gt=ctx.day - timedelta(days=max(grace.values(), default=0)),
                    pk__gt=last_pk,
                )
                .order_by("pk")[:BATCH]
            )
            if not batch:
                return
            last_pk = batch[-1].pk
            partners = _partners(batch)
            back = []
            for lic in batch:
                if ctx.day >= lic.expired_on + timedelta(days=grace[lic.policy_id]):
                    continue  # grace over: cancelled below, not revived
                partner = partners[lic.partner_id]
                if standing(partner, on=ctx.day).good:
                    term = partner.term_covering(ctx.day)
                    lic.state, lic.ends_on, lic.expired_on = LicenseState.ACTIVE, term.ends_on, None
                    lic._change_reason = f"active again to {term.ends_on}: back in good standing"
                    back.append(lic)
            ctx.save(back, ["state", "ends_on", "expired_on"])
            ctx.counts["reactivated"] += len(back)


# --- (b) trials past their end -----------------------------------------------------------


def expire_trials(ctx: Context) -> None:
    due = ctx.mine(
        License.objects.filter(
            policy__kind=LicenseKind.TL, state=LicenseState.ACTIVE, ends_on__lt=ctx.day
        )
    )
    for batch in _batches(due, "ends_on", "state", "expired_on"):
        for lic in batch:
            lic.state, lic.expired_on = LicenseState.EXPIRED, lic.ends_on + timedelta(days=1)
            lic._change_reason = "expired: end of the trial"
        ctx.save(batch, ["state", "expired_on"])
        ctx.counts["trials_expired"] += len(batch)


# --- (c) expired past the grace period: cancelled ----------------------------------------


def cancel_after_grace(ctx: Context) -> None:
    for policy in LicensePolicy.objects.all():
        due = ctx.mine(
            License.objects.filter(
                policy=policy,
                state=LicenseState.EXPIRED,
                expired_on__lte=ctx.day - timedelta(days=policy.grace_days),
            )
        )
        for batch in _batches(due, "state", "cancelled_on", "state_reason"):
            for lic in batch:
                lic.state, lic.cancelled_on = LicenseState.CANCELLED, ctx.day
                lic.state_reason = f"grace period of {policy.grace_days} days over"
                lic._change_reason = f"cancelled: {lic.state_reason} (applications offline)"
            ctx.save(batch, ["state", "cancelled_on", "state_reason"])
            ctx.counts["cancelled"] += len(batch)


def mark_former_partners(ctx: Context) -> None:
    """Active partners whose last term ended more than the longest grace period ago."""
    longest = LicensePolicy.objects.aggregate(longest=Max("grace_days"))["longest"] or 0
    due = (
        Partner.objects.filter(status=PartnerStatus.ACTIVE)
        .annotate(last_end=Max("terms__ends_on"))
        .filter(last_end__lt=ctx.day - timedelta(days=longest))
    )
    while True:
        with transaction.atomic():
            batch = list(
                Partner.objects.select_for_update()
                .filter(pk__in=due.values("pk")[:BATCH])
                .order_by("pk")
            )
            if not batch:
                return
            for partner in batch:
                partner.status = PartnerStatus.FORMER
                partner._change_reason = "former: partnership not renewed"
            ctx.save(batch, ["status"], model=Partner)
            ctx.counts["partners_former"] += len(batch)


# --- (d) reminders -----------------------------------------------------------------------


def reminder_recipients(lic: License) -> list[str]:
    """Who gets `lic`'s reminders (the mail preview asks; the night uses `recipients_of`)."""
    return recipients_of([lic.pk])[0][3]


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
    for start in range(0, len(todo), BATCH):
        rows = []
        for pk, partner_id, ends_on, emails in recipients_of(todo[start : start + BATCH]):
            n = owed[pk]
            for email in emails:
                rows.append(
                    Notification(
                        kind=NotificationKind.REMINDER,
                        license_id=pk,
                        partner_id=partner_id,
                        recipient=email,
                        template="reminder",
                        params={"days": n, "ends_on": ends_on.isoformat()},
                        key=f"reminder:{pk}:{ends_on}:{n}:{email.lower()}",
                    )
                )
        with transaction.atomic():
            ctx.counts["reminders"] += ctx.mail_after_commit(rows)


def recipients_of(ids: list[int]) -> list[tuple[int, int, date, list[str]]]:
    """(license id, partner id, end, recipients) of each license, in four queries of
    plain values (no model objects per license): the licenses, their trials' opportunities,
    their partners' channel managers, the partners' contacts. (Joined to the licenses, the
    partners and the opportunities were each hashed whole by the planner for a batch of
    2,000.)

    Partner-program licenses remind both contacts, then the channel manager; a trial
    reminds the opportunity's solution architect when it has one (even without an
    address: then nobody), else whoever asked for it."""
    licenses = list(
        License.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list(
            "pk", "partner_id", "ends_on", "policy__kind", "opportunity_id", "requested_by__email"
        )
    )
    architects = {
        pk: (architect, email)
        for pk, architect, email in Opportunity.objects.filter(
            pk__in={row[4] for row in licenses if row[4] is not None}
        ).values_list("pk", "solution_architect_id", "solution_architect__email")
    }
    rows = [
        (pk, partner_id, ends_on, kind, *architects.get(opportunity, (None, None)), requester)
        for pk, partner_id, ends_on, kind, opportunity, requester in licenses
    ]
    partners = {row[1] for row in rows if row[3] != LicenseKind.TL}
    managers = dict(
        Partner.objects.filter(pk__in=partners).values_list("pk", "channel_manager__email")
    )
    contacts = defaultdict(list)
    for partner_id, email in (
        Contact.objects.filter(partner_id__in=partners)
        .order_by("partner_id", "role")
        .values_list("partner_id", "email")
    ):
        contacts[partner_id].append(email)
    found = []
    for pk, partner_id, ends_on, kind, architect, architect_email, requester_email in rows:
        if kind == LicenseKind.TL:
            # The architect when the opportunity has one, else whoever asked for it.
            email = architect_email if architect else requester_email
            emails = [email] if email else []
        else:
            manager = managers.get(partner_id)
            emails = contacts[partner_id] + ([manager] if manager else [])
        found.append((pk, partner_id, ends_on, emails))
    return found


# --- (e) late provisioning ---------------------------------------------------------------


def flag_overdue_provisioning(ctx: Context) -> None:
    due = ctx.mine(
        License.objects.filter(
            state=LicenseState.APPROVED,
            provisioning_due_on__lt=ctx.day,
            provisioning_overdue_since__isnull=True,
        )
    )
    for batch in _batches(due, "provisioning_due_on", "provisioning_overdue_since"):
        for lic in batch:
            lic.provisioning_overdue_since = lic.provisioning_due_on + timedelta(days=1)
            lic._change_reason = "provisioning overdue"
        ctx.save(batch, ["provisioning_overdue_since"])
        ids = sorted(lic.pk for lic in batch)
        digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
        # One alert for the licensing team per batch of newly late licenses; never the partner.
        ctx.counts["overdue_alerts"] += ctx.mail_after_commit(
            [
                Notification(
                    kind=NotificationKind.OVERDUE_ALERT,
                    recipient=settings.LICENSING_TEAM_EMAIL,
                    template="overdue_alert",
                    params={"license_ids": ids, "day": ctx.day.isoformat()},
                    key=f"overdue:{ctx.day}:{digest}",
                )
            ]
        )
        ctx.counts["overdue_flagged"] += len(batch)


# --- (f) platform upgrades ---------------------------------------------------------------


def report_upgrades(ctx: Context) -> None:
    latest = PlatformRelease.latest_stable()
    if latest is None:
        return
    behind = list(Infrastructure.objects.behind(latest).order_by("pk").values_list("pk", flat=True))
    if behind:
        with transaction.atomic():
            ctx.counts["upgrade_reports"] += ctx.mail_after_commit(
                [
                    Notification(
                        kind=NotificationKind.UPGRADE_REPORT,
                        recipient=settings.LICENSING_TEAM_EMAIL,
                        template="upgrade_report",
                        params={
                            "infrastructure_ids": behind,
                            "latest": latest.version,
                            "day": ctx.day.isoformat(),
                        },
                        key=f"upgrade-report:{ctx.day}",
                    )
                ]
            )


# Steps that handle each license on its own: they may run split across workers.
LICENSE_STEPS = [
    renew_or_expire,
    reactivate_within_grace,
    expire_trials,
    cancel_after_grace,
    send_reminders,
    flag_overdue_provisioning,
]
# Steps over the whole night's result, run once after the license steps.
GLOBAL_STEPS = [mark_former_partners, report_upgrades]
STEPS = LICENSE_STEPS + GLOBAL_STEPS
