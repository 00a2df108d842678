"""How a nightly step reads and writes: batches of locked rows as plain values, and one
UPDATE plus one history INSERT per batch, authored by the system user."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from django.db import transaction
from django.db.models.functions import Mod
from django.utils import timezone

from partners import bulk_sql, dashboard_cache
from partners.models import Partner

from .. import lifecycle, notifications
from ..choices import ExtensionState
from ..models import Extension, License

# Licenses per transaction: what a step locks, holds in memory and writes in one UPDATE.
# 2,000 rows lock for a fraction of a second; 500 made the night spend more on round
# trips and commits than on the rows themselves.
BATCH = 2000


@contextmanager
def old_objects_left_alone() -> Iterator[None]:
    """Run the night with the objects alive when it starts (the process's modules, models,
    settings and templates: about 100,000) out of the garbage collector's sight, and hand
    them back after. A night allocates rows by the thousand, which sets off full
    collections, and each one walked all of those objects again for nothing: 67 ms of the
    usage check's 650 at 200,000 licenses, 3 ms once they are set aside. Nothing is lost:
    garbage among them is collected after the night. A process that has set objects aside
    itself (`gc.freeze()` before forking workers) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Context:
    def __init__(self, *, day, counts, user, say, chunk=None):
        self.day, self.counts, self.user, self.say = day, counts, user, say
        self.chunk = chunk
        # Set by the step keep_standing: every partner's kept standing is this day's answer
        # (a chunk of a split night runs before it, and reads the standing rule in SQL).
        self.standing_kept = False

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
        (`bulk_sql.rows_table`), then one INSERT … SELECT copying the updated rows into the
        history table, joined to a table of the reasons. Same transaction, batches of BATCH rows.
        """
        if not objects:
            return
        # Bulk SQL sends no signals: the dashboard counts again once this commits.
        transaction.on_commit(dashboard_cache.data_changed)
        with transaction.atomic(savepoint=False):
            for start in range(0, len(objects), BATCH):
                part = objects[start : start + BATCH]
                bulk_sql.update(model, part, fields)
                self._copy_history(model, part)

    def insert(self, model, objects: list, *, key: tuple[str, ...], reason: str) -> None:
        """Insert new rows (`bulk_sql.Values`, their ids set; `key` tells them apart) with
        their history rows ("+", `reason`), authored by the system user: one statement."""
        history = bulk_sql.History(reason=reason, user_id=self.user.pk, when=timezone.now())
        bulk_sql.insert_all(model, objects, key=key, history=history)

    def _copy_history(self, model, objects: list, history_type: str = "~") -> None:
        """One history row per updated row, copied by the database (INSERT … SELECT)."""
        bulk_sql.copy_history(
            model,
            [obj.pk for obj in objects],
            [getattr(obj, "_change_reason", "") for obj in objects],
            history_type=history_type,
            user_id=self.user.pk,
            when=timezone.now(),
        )

    def close_extension_requests(self, licenses: list) -> list[Extension]:
        """The licenses were cancelled: their waiting extension requests are refused, as
        `services.cancel` does for one (the same rule, `lifecycle.close_extension_request`),
        in one UPDATE with history. Few licenses of a batch have one, so model rows it is.
        Returns them, with whoever asked (who is told)."""
        waiting = list(
            Extension.objects.select_for_update(of=("self",))
            .select_related("requested_by")
            .filter(license_id__any=[lic.pk for lic in licenses], state=ExtensionState.REQUESTED)
        )
        fields = []
        for ext in waiting:
            fields = lifecycle.close_extension_request(ext, by=self.user, on=self.day).apply(ext)
        self.save(waiting, fields, model=Extension)
        return waiting

    def queue_mail(self, rows: list[bulk_sql.Values]) -> int:
        """Write the mails to the outbox in the batch's transaction; the run delivers them
        when its steps are done. Returns how many were new (a rerun of the day finds them
        all known)."""
        return notifications.queue_many(rows)


class Row(SimpleNamespace):
    """A license as a step reads and changes it: `pk` and the step's fields as plain
    attributes. Building 500 model instances took longer than the batch's UPDATE."""


def batches(queryset, *fields: str, order: str = "ends_on"):
    """Lock and yield batches of a queryset whose rows stop matching once handled, each
    license a `Row` of only the `fields` its step reads (and the ones it writes).

    `order` is the date the step selects a range of, so that the index on (state, that
    date) gives both the range and the order: by id the planner walks the primary key,
    unordered it misjudges the match and scans the table, and ordered by another date it
    walks every row of the state in that date's order (the trials expired past their
    grace, by end date, at 2,000,000 licenses: 120,323 rows read for 2,000, 0.7 s a batch
    against 13 ms by expiry date)."""
    while True:
        with transaction.atomic():
            locked = queryset.select_for_update(of=("self",)).order_by(order, "pk")
            batch = [
                Row(pk=pk, **dict(zip(fields, values, strict=True)))
                for pk, *values in locked.values_list("pk", *fields)[:BATCH]
            ]
            if not batch:
                return
            yield batch


def partners_of(licenses) -> dict[int, Partner]:
    """The licenses' partners with what standing() reads (terms, incidents), by id."""
    ids = {lic.partner_id for lic in licenses}
    partners = Partner.objects.filter(pk__any=ids).prefetch_related("terms", "incidents")
    return {p.pk: p for p in partners}
