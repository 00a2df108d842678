"""What every stage of seed_scale shares: its constants, and the run itself.

A `Seeding` carries the random generator, the day of reference T and the author of every
row, plus what one stage hands on to the next (users, regions, policies, releases). Each
stage writes through `Seeding.insert`: `bulk_create_with_history` in batches, no per-row
save, so no signal, mail or Celery task.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.management.base import OutputWrapper
from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from ipp import regions as ipp_regions
from licensing import regions as licensing_regions
from partners import bulk_sql
from partners import regions as partners_regions

BATCH = 5000
PREFIX = "Scale Partner"
REASON = "seed_scale"
# The rows that carry their owner's region (`partners.region_keys`), and that owner's field.
REGION_OWNERS = {**partners_regions.OWNERS, **licensing_regions.OWNERS, **ipp_regions.OWNERS}


def year_from(start: date) -> date:
    """The last day of a one-year term starting on `start`."""
    return start + relativedelta(years=1, days=-1)


def stamp(day: date) -> datetime:
    return datetime.combine(day, dtime(9, 0), tzinfo=UTC)


@dataclass
class Seeding:
    """One run of seed_scale. A single random generator drawn from in a fixed order makes
    a run reproducible from its seed, so the stages must keep their order."""

    out: OutputWrapper
    rng: random.Random
    t: date
    user: Any = None  # scale.licensing: the author of every row and history row
    architects: list = field(default_factory=list)
    regions: list = field(default_factory=list)
    policies: dict = field(default_factory=dict)  # by kind
    latest: Any = None  # the newest stable platform release
    older: list = field(default_factory=list)
    infra_number: int = 0  # the last infrastructure's number, for unique registration ids
    # The region of every row inserted so far that has one, by model and id: a row inserted
    # later carries its owner's from here (`carry_regions`), so no UPDATE of millions of rows
    # fills them afterwards.
    region_of: dict = field(default_factory=lambda: defaultdict(dict))

    def insert(self, model, objs: list, label: str | None = None) -> list:
        """bulk_create_with_history in batches, printing a line per batch."""
        label = label or str(model._meta.verbose_name_plural)
        created = []
        for start in range(0, len(objs), BATCH):
            chunk = objs[start : start + BATCH]
            began = time.monotonic()
            created += self.bulk(model, chunk)
            self.progress(label, start + len(chunk), len(objs), 2 * len(chunk), began)
        return created

    def bulk(self, model, objs: list) -> list:
        """One bulk insert of `objs` and one of their history rows (no save, no signal). On
        PostgreSQL the rows go as binary arrays and the history rows are copied by the
        database: `bulk_create_with_history` spent most of its time quoting every value
        into the SQL text and building a history object per row."""
        self.carry_regions(model, objs)
        if connection.vendor != "postgresql":
            objs = bulk_create_with_history(
                objs, model, batch_size=BATCH, default_user=self.user, default_change_reason=REASON
            )
            self.remember_regions(model, objs)
            return objs
        bulk_sql.insert_numbered(model, objs)
        self.remember_regions(model, objs)
        bulk_sql.copy_history(
            model,
            [obj.pk for obj in objs],
            [REASON] * len(objs),
            history_type="+",
            user_id=self.user.pk,
            when=timezone.now(),
        )
        return objs

    def carry_regions(self, model, objs: list) -> None:
        """Give each new row that carries its owner's region (no signal sets it in bulk) the
        region of that owner, when this run inserted the owner."""
        owner = REGION_OWNERS.get(model)
        if owner is None:
            return
        field_ = model._meta.get_field(owner)
        known = self.region_of[field_.related_model]
        for obj in objs:
            if obj.region_id is None:
                obj.region_id = known.get(getattr(obj, field_.attname))

    def remember_regions(self, model, objs: list) -> None:
        if any(f.name == "region" for f in model._meta.concrete_fields):
            self.region_of[model].update((obj.pk, obj.region_id) for obj in objs)

    def progress(self, label: str, done: int, total: int, rows: int, began: float) -> None:
        rate = rows / max(time.monotonic() - began, 1e-6)
        self.out.write(f"  {label:<26} {done:>9,}/{total:<9,} {rate:>10,.0f} rows/s")
