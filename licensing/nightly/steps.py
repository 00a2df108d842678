"""The nightly steps, in order: renew or expire, reactivate, expire trials, cancel after
grace, remind, flag late provisioning; then former partners, the upgrade report and the
usage check (`usage`).

Each step selects what is due with an indexed query and applies the lifecycle rule of
`licensing.lifecycle` to each row of a batch; `bulk` writes the batch, and `tell` writes
its lifecycle mails (`licensing.mails`) in the same transaction.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q

from partners import row_counts
from partners.choices import PartnerStatus
from partners.models import Partner
from partners.services import FORMER_NOT_RENEWED

from .. import lifecycle, mails, outbox, selectors
from ..choices import Hosting, LicenseKind, LicenseState, NotificationKind
from ..models import License, LicensePolicy, Notification, PlatformRelease
from . import bulk
from .bulk import Context, batches, partners_of
from .reminders import send_reminders
from .standing import keep_standing
from .usage import check_usage

PARTNER_PROGRAM = (LicenseKind.DL, LicenseKind.IL)


def tell(ctx: Context, licenses: list, *mail_of) -> None:
    """The lifecycle mails of a batch's changed licenses, `mail_of(license, people)` each
    (a Mail, or None): their people read for the whole batch (`selectors.people_of`, a few
    queries, none per license), the rows written in the batch's transaction, delivered at
    the end of the run."""
    if not licenses:
        return
    people = selectors.people_of([lic.pk for lic in licenses])
    told = (each(lic, people[lic.pk]) for lic in licenses for each in mail_of)
    written = mails.rows(*(mail for mail in told if mail is not None))
    ctx.counts["lifecycle_mails"] += ctx.queue_mail(written)


def expiry_mail(lic, people) -> mails.Mail:
    why = lifecycle.why_expired(lic._change_reason)
    return mails.expired(people, expired_on=lic.expired_on, reason=why)


def on_premises(licenses: list) -> list:
    """The licenses that need a new license file when their dates change."""
    return [lic for lic in licenses if lic.hosting == Hosting.ON_PREMISES]


# --- (a) partner-program licenses past their end: renew or expire ------------------------


def renew_or_expire(ctx: Context) -> None:
    due = ctx.mine(
        License.objects.filter(
            policy__kind__in=PARTNER_PROGRAM, state=LicenseState.ACTIVE, ends_on__lt=ctx.day
        )
    )
    for batch in batches(due, "partner_id", "hosting", "ends_on", "state", "expired_on"):
        partners = partners_of(batch)
        renewed, expired = [], []
        for lic in batch:
            lifecycle.renew_or_expire(lic, partners[lic.partner_id]).apply(lic)
            (expired if lic.state == LicenseState.EXPIRED else renewed).append(lic)
        ctx.save(renewed, ["ends_on"])
        ctx.save(expired, ["state", "expired_on"])
        # Expired: no publishing, and the cancellation date; renewed on-premises: a new file.
        tell(
            ctx,
            expired + on_premises(renewed),
            lambda lic, people: (
                expiry_mail(lic, people)
                if lic.state == LicenseState.EXPIRED
                else mails.active_again(people, ends_on=lic.ends_on, why=mails.RENEWED)
            ),
        )
        ctx.counts["renewed"] += len(renewed)
        ctx.counts["expired"] += len(expired)


def reactivate_within_grace(ctx: Context) -> None:
    """An expired DL/IL whose partner is in good standing again, within grace: active to
    the end of the term covering the day."""
    last_pk = 0
    grace = dict(
        LicensePolicy.objects.filter(kind__in=PARTNER_PROGRAM).values_list("pk", "grace_days")
    )
    # Only partners back in good standing are candidates; standing() below confirms each
    # one. Once the night has kept every partner's standing for its day, the kept flag says
    # it (a join on the partner's key); before (a chunk of a split night), the rule in SQL,
    # asked per license in grace (correlated): at 2,000,000 licenses, 35,000 licenses in
    # grace each judged through their partner's terms and incidents took seconds.
    if ctx.standing_kept:
        partner_back = Q(partner__standing_good=True)
    else:
        partner_back = Q(
            Exists(Partner.objects.in_good_standing(ctx.day).filter(pk=OuterRef("partner_id")))
        )
    while True:
        with transaction.atomic():
            batch = list(
                ctx.mine(License.objects.select_for_update(of=("self",)))
                .filter(
                    partner_back,
                    policy__in=list(grace),
                    state=LicenseState.EXPIRED,
                    expired_on__gt=ctx.day - timedelta(days=max(grace.values(), default=0)),
                    pk__gt=last_pk,
                )
                .order_by("pk")[: bulk.BATCH]
            )
            if not batch:
                return
            last_pk = batch[-1].pk
            partners = partners_of(batch)
            back = []
            for lic in batch:
                # Past its grace the license is cancelled below, not revived.
                change = lifecycle.back_in_good_standing(
                    lic, partners[lic.partner_id], grace_days=grace[lic.policy_id], on=ctx.day
                )
                if change is not None:
                    change.apply(lic)
                    back.append(lic)
            ctx.save(back, ["state", "ends_on", "expired_on"])
            tell(
                ctx,
                on_premises(back),
                lambda lic, people: mails.active_again(
                    people, ends_on=lic.ends_on, why=mails.REACTIVATED
                ),
            )
            ctx.counts["reactivated"] += len(back)


# --- (b) trials past their end -----------------------------------------------------------


def expire_trials(ctx: Context) -> None:
    due = ctx.mine(
        License.objects.filter(
            policy__kind=LicenseKind.TL, state=LicenseState.ACTIVE, ends_on__lt=ctx.day
        )
    )
    for batch in batches(due, "ends_on", "state", "expired_on"):
        for lic in batch:
            lifecycle.expire_trial(lic).apply(lic)
        ctx.save(batch, ["state", "expired_on"])
        tell(ctx, batch, expiry_mail)
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
        for batch in batches(due, "state", "cancelled_on", "state_reason", order="expired_on"):
            for lic in batch:
                change = lifecycle.cancel_after_grace(lic, grace_days=policy.grace_days, on=ctx.day)
                change.apply(lic)
            ctx.save(batch, ["state", "cancelled_on", "state_reason"])
            closed = {ext.license_id: ext for ext in ctx.close_extension_requests(batch)}
            tell(
                ctx,
                batch,
                lambda lic, people: mails.cancelled(
                    people, cancelled_on=lic.cancelled_on, reason=lic.state_reason
                ),
                lambda lic, people, closed=closed: mails.request_closed(people, closed.get(lic.pk)),
            )
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
                .filter(pk__in=due.values("pk")[: bulk.BATCH])
                .order_by("pk")
            )
            if not batch:
                return
            for partner in batch:
                partner.status = PartnerStatus.FORMER
                partner._change_reason = FORMER_NOT_RENEWED
            ctx.save(batch, ["status"], model=Partner)
            ctx.counts["partners_former"] += len(batch)


# --- (e) late provisioning ---------------------------------------------------------------


def flag_overdue_provisioning(ctx: Context) -> None:
    due = ctx.mine(
        License.objects.filter(
            state=LicenseState.APPROVED,
            provisioning_due_on__lt=ctx.day,
            provisioning_overdue_since__isnull=True,
        )
    )
    fields = ("provisioning_due_on", "provisioning_overdue_since")
    for batch in batches(due, *fields, order="provisioning_due_on"):
        for lic in batch:
            lic.provisioning_overdue_since = lic.provisioning_due_on + timedelta(days=1)
            lic._change_reason = "provisioning overdue"
        ctx.save(batch, ["provisioning_overdue_since"])
        ids = sorted(lic.pk for lic in batch)
        digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
        # One alert for the licensing team per batch of newly late licenses; never the partner.
        ctx.counts["overdue_alerts"] += ctx.queue_mail(
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
    behind = list(selectors.behind_latest_release(latest).values_list("pk", flat=True))
    if behind:
        with transaction.atomic():
            ctx.counts["upgrade_reports"] += ctx.queue_mail(
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


def fold_row_counts(ctx: Context) -> None:
    """The day's changes to the lists' kept row counts, one row per table and region."""
    with transaction.atomic():
        folded = row_counts.fold()
    ctx.say(f"row counts: {folded} change(s) folded")


# --- (g) the outbox ------------------------------------------------------------------------


def deliver_mail(ctx: Context) -> None:
    """The night ends by sending what it wrote, and whatever else is due in the outbox."""
    # Counted mail by mail, so a run killed while it delivers keeps what it sent.
    outbox.deliver_notifications(on_sent=lambda: ctx.counts.update(mails_sent=1))


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
# check_usage runs once over every active license (one query picks them), before the mail.
# keep_standing first: the standing kept on the partners is the day's before anything
# reads it (in one process, before the license steps too).
GLOBAL_STEPS = [
    keep_standing,
    mark_former_partners,
    report_upgrades,
    check_usage,
    fold_row_counts,
    deliver_mail,
]
STEPS = [keep_standing, *LICENSE_STEPS, *GLOBAL_STEPS[1:]]
