"""A benchmark database brought to the morning of the measured day D (in a child process).

Migrated, seeded by `seed_scale` unless it already holds the wanted counts, given its due set
(the nightly databases), and left as a desk whose nightly run for the day before D ran: the
run committed, its mails marked delivered, as the worker would.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from licensing.models import License, NightlyRun, Notification
from licensing.nightly import system_user
from licensing.services import run_nightly
from partners.models import Partner

# isort: split
# The modules beside this one (run as a script, its directory comes first on sys.path).
from common import leave_mail_to_the_outbox, log

SCALE_PREFIX = "Scale Partner "


def prepare(args) -> dict:
    """Migrate, seed unless the wanted data is there, make the due set, and bring the
    database to the state after the nightly run of the day before D."""
    partners, licenses = args.size
    call_command("migrate", verbosity=0)
    have = (
        Partner.objects.filter(name__startswith=SCALE_PREFIX).count(),
        License.objects.count(),
    )
    seed_seconds = None
    if have == (0, 0):
        started = time.monotonic()
        call_command("seed_scale", partners=partners, licenses=licenses)
        seed_seconds = time.monotonic() - started
    elif have != (partners, licenses):
        raise SystemExit(
            f"{args.db} holds {have[0]:,} scale partners and {have[1]:,} licenses, "
            f"not {partners:,} and {licenses:,}: run with --reseed"
        )
    else:
        log(f"[{args.db}] reusing {have[0]:,} partners and {have[1]:,} licenses")
    day = args.day
    if args.due:  # the nightly databases
        call_command("seed_scale", due_on=day, due=args.due)
    yesterday = day - timedelta(days=1)
    if not NightlyRun.objects.filter(day=yesterday, status="finished").exists():
        warm_up(yesterday)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # fresh planner statistics after the bulk load
    return {
        "seed_seconds": seed_seconds,
        "counts": f"{Partner.objects.count():,} partners, {License.objects.count():,} licenses",
    }


def warm_up(day: date) -> None:
    """The nightly run of the day before, committed, its mails marked delivered (in one
    UPDATE, not sent one by one): the desk as it is every morning."""
    started = time.monotonic()
    leave_mail_to_the_outbox()
    counts = run_nightly(today=day)
    now, user = timezone.now(), system_user()
    pending = list(Notification.objects.filter(sent_at__isnull=True))
    for notification in pending:
        notification.sent_at = now
        notification._change_reason = "delivered (benchmark warm-up)"
    bulk_update_with_history(pending, Notification, ["sent_at"], batch_size=2000, default_user=user)
    log(
        f"warm-up: nightly run for {day} in {time.monotonic() - started:.1f} s, "
        f"{len(pending):,} mails marked delivered: {counts}"
    )
