"""Scale data for benchmarks: tens of thousands of partners, hundreds of thousands of licenses.

    python manage.py seed_scale [--partners 20000] [--licenses 200000] [--force]
                                [--due-on YYYY-MM-DD --due N] [--seed 42]

Everything is written with `bulk_create` in batches of BATCH rows, each with its history
rows (`simple_history.utils.bulk_create_with_history`, author: the `scale.licensing` user,
reason "seed_scale"): no per-row save, no signals, no mail, no Celery task. On PostgreSQL
200,000 licenses (about 2.5 million rows with their infrastructures, environments and
history) take a few minutes. The day of reference T is today (UTC).
This module parses the options; the stages are in `config/seeding/` (`scale.seed` runs
them in order).

What it makes, relative to T (one random generator, `--seed`, so a run is reproducible):
- 10 regions (the demo ones are reused by code), a channel manager user per region
  (`scale.cm.<code>`), `scale.licensing`, `scale.auditor` and four `scale.architect<n>`
  users, all staff, with the demo password; the platform releases of the demo.
- partners "Scale Partner 000001"… in about 60 countries (their region's), with a standing
  profile: mostly good; not good for one named reason (unsigned, revoked, fee unconfirmed,
  not authorized, open compliance incident); lapsed (last term ended within the grace
  period); former; prospective (no term, trials only). Two contacts each; 1 to 3
  consecutive yearly terms (never overlapping: the database refuses that), some renewed
  ahead; some resolved compliance incidents.
- opportunities in every status (one approved or won per trial, a few more per partner).
- licenses of every kind and state. Active Demo/Internal licenses end on their partner's
  renewal date, active trials within 180 days: every future day has licenses due. Expired
  ones ended within the grace period (T-30…T-1), cancelled ones 31 to 60 days ago: the
  database looks as if the nightly run for T had already run. Approved ones past their
  provisioning deadline are already flagged. One live cloud DL, one on-premises DL and one
  IL per partner at most (extra ones are historical: cancelled or refused).
- an infrastructure (registration id "SCALE-0000001"…, unique) with its environments for
  every provisioned license, some IPP applications, permissions and deployment checks,
  and some extension requests.

Running it twice on one database is refused (the partners' names would collide and the
counts double): `--force` adds another set, numbered after the existing one.

`--due-on D --due N` then makes exactly N active licenses due on D (the nightly run for D
handles `state = active AND ends_on < D`): N active licenses that will expire on D (trials,
and Demo/Internal licenses of partners not in good standing on D) end on D - 1, and every
other active license ending before D is moved a year (or more) later. It writes history
rows too. On an already seeded database `--due-on/--due` alone (without --force) only does
this, so the benchmark resets its due set with it; run again it changes nothing.
"""

from __future__ import annotations

import random
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.seeding.context import PREFIX, Seeding
from config.seeding.due import make_due
from config.seeding.scale import seed, summary
from licensing.models import LicensePolicy
from partners import dashboard_cache
from partners.models import Partner
from partners.services import today

ALREADY_SEEDED = (
    "This database already holds scale data ({count:,} partners named '{prefix} …'): "
    "seeding again would double it. Run with --force to add another set, or with "
    "--due-on/--due alone to reset the licenses due on a day."
)
DUE_WITHOUT_DAY = "--due-on and --due go together."
NO_POLICIES = "No license policies: run `manage.py migrate` first (a data migration makes them)."


class Command(BaseCommand):
    help = "Fill the database fast with scale data for benchmarks (bulk inserts, with history)."

    def add_arguments(self, parser):
        parser.add_argument("--partners", type=int, default=None, help="default 20000")
        parser.add_argument("--licenses", type=int, default=None, help="default 200000")
        parser.add_argument("--force", action="store_true", help="seed again on seeded data")
        parser.add_argument("--due-on", type=date.fromisoformat, default=None, metavar="DAY")
        parser.add_argument("--due", type=int, default=None, metavar="N")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")

    def handle(self, *args, **options):
        due_on, due = options["due_on"], options["due"]
        if (due_on is None) != (due is None):
            raise CommandError(DUE_WITHOUT_DAY)
        if not LicensePolicy.objects.exists():
            raise CommandError(NO_POLICIES)
        started = time.monotonic()
        existing = Partner.objects.filter(name__startswith=f"{PREFIX} ").count()
        sizes_given = options["partners"] is not None or options["licenses"] is not None
        # Seed unless this is a due-set-only run (--due-on/--due alone, on seeded data).
        should_seed = not existing or options["force"] or sizes_given or due_on is None
        if existing and should_seed and not options["force"]:
            raise CommandError(ALREADY_SEEDED.format(count=existing, prefix=PREFIX))
        if should_seed:
            rng = random.Random(options["seed"])  # noqa: S311 - test data, not secrets
            run = Seeding(out=self.stdout, rng=rng, t=today())
            partners = 20000 if options["partners"] is None else options["partners"]
            licenses = 200000 if options["licenses"] is None else options["licenses"]
            with transaction.atomic():
                seed(run, partners, licenses, offset=existing)
        elif due_on is not None:
            self.stdout.write(f"already seeded ({existing:,} scale partners): due set only")
        if due_on is not None:
            with transaction.atomic():
                make_due(due_on, due, out=self.stdout)
        # Bulk inserts send no signals: the dashboard's cached figures are counted again.
        dashboard_cache.data_changed()
        if should_seed:
            self.stdout.write(self.style.SUCCESS(summary(time.monotonic() - started)))
