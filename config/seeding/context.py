"""What every stage of seed_scale shares: its constants, and the run itself.

A `Seeding` carries the random generator, the day of reference T and the author of every
row, plus what one stage hands on to the next (users, regions, policies, releases). Each
stage writes through `Seeding.insert`: `bulk_create_with_history` in batches, no per-row
save, so no signal, mail or Celery task.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.management.base import OutputWrapper
from django.db import connection
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from partners import bulk_sql

BATCH = 5000
PREFIX = "Scale Partner"
REASON = "seed_scale"


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
        if connection.vendor != "postgresql":
            return bulk_create_with_history(
                objs, model, batch_size=BATCH, default_user=self.user, default_change_reason=REASON
            )
        bulk_sql.insert_numbered(model, objs)
        bulk_sql.copy_history(
            model,
            [obj.pk for obj in objs],
            [REASON] * len(objs),
            history_type="+",
            user_id=self.user.pk,
            when=timezone.now(),
        )
        return objs

    def progress(self, label: str, done: int, total: int, rows: int, began: float) -> None:
        rate = rows / max(time.monotonic() - began, 1e-6)
        self.out.write(f"  {label:<26} {done:>9,}/{total:<9,} {rate:>10,.0f} rows/s")
