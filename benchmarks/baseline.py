"""The plain-SQL baselines of the nightly run (in the nightly child process).

A night does more than expire the due licenses (it also renews, cancels, flags and reminds),
so the full baseline is every row the run wrote, captured by `run_writes` from a run before
its rollback: one UPDATE of each license it changed to its new values, one INSERT … SELECT of
their history rows, one INSERT of the notifications it created. The narrower baseline
changes the due licenses alone: one UPDATE of them and one INSERT … SELECT of their history.
"""

from __future__ import annotations

import json
import statistics
import time

from django.db import connection, transaction

from licensing.models import License, Notification
from licensing.nightly import system_user

# What the nightly run may write to a license (the rest of the row stays as it was).
NIGHTLY_COLUMNS = (
    "state",
    "ends_on",
    "expired_on",
    "cancelled_on",
    "state_reason",
    "provisioning_overdue_since",
)


def timed_rolled_back(statements: list[tuple[str, list]], repeat: int) -> tuple[float, list]:
    """The median time of `repeat` runs of the statements, each run rolled back, and the
    row counts of each run's statements."""
    times, rowcounts = [], []
    for _ in range(repeat):
        # Timed like the nightly runs: no query capture.
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                counts = []
                for sql, params in statements:
                    cursor.execute(sql, params)
                    counts.append(cursor.rowcount)
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
        rowcounts.append(counts)
    return statistics.median(times), rowcounts


def history_insert(columns: str, reason: str) -> str:
    """INSERT … SELECT of the history rows of the licenses given as a parameter (their
    state after the statements before it), by the user given as the other parameter."""
    history = License.history.model
    return (
        f"INSERT INTO {history._meta.db_table} ({columns}, history_date, "  # noqa: S608 - names from the model
        "history_change_reason, history_type, history_user_id) "
        f"SELECT {columns}, now(), '{reason}', '~', %s FROM licensing_license "
        "WHERE id = ANY(%s)"
    )


def tracked_columns() -> str:
    history = License.history.model
    return ", ".join(connection.ops.quote_name(f.column) for f in history.tracked_fields)


def sql_baseline(due_ids: list[int], repeat: int) -> tuple[float, int]:
    """The same row changes as the nightly expiry, as plain SQL: one UPDATE, one INSERT."""
    update = (
        "UPDATE licensing_license SET state = 'expired', expired_on = ends_on + 1 "
        "WHERE id = ANY(%s)"
    )
    insert = history_insert(tracked_columns(), "expired (baseline)")
    user = system_user().pk
    seconds, rowcounts = timed_rolled_back([(update, [due_ids]), (insert, [user, due_ids])], repeat)
    # A benchmark sanity check: the UPDATE changed every due license.
    assert all(counts[0] == len(due_ids) for counts in rowcounts)  # noqa: S101
    return seconds, 2


def run_writes(started_at, notifications_before: int) -> dict:
    """Every row a run wrote, read inside its transaction before the rollback: the
    licenses it changed (with their new values) and the notifications it created."""
    changed = License.history.filter(history_date__gte=started_at).values("id")
    licenses = list(
        License.objects.filter(pk__in=changed).order_by("pk").values_list("pk", *NIGHTLY_COLUMNS)
    )
    columns = [f.attname for f in Notification._meta.concrete_fields if not f.primary_key]
    notifications = [
        [json.dumps(v) if name == "params" else v for name, v in zip(columns, row, strict=True)]
        for row in Notification.objects.filter(pk__gt=notifications_before)
        .order_by("pk")
        .values_list(*columns)
    ]
    return {"licenses": licenses, "notifications": notifications, "columns": columns}


def license_update() -> str:
    """UPDATE of the licenses to their new values, given as one array per column."""
    quote = connection.ops.quote_name
    lic_fields = [License._meta.pk] + [License._meta.get_field(c) for c in NIGHTLY_COLUMNS]
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in lic_fields)
    names = ", ".join(["pk_"] + [f"v{i}" for i in range(len(NIGHTLY_COLUMNS))])
    assign = ", ".join(f"{quote(f.column)} = v.v{i}" for i, f in enumerate(lic_fields[1:]))
    return (
        f"UPDATE licensing_license SET {assign} FROM unnest({arrays}) AS v ({names}) "  # noqa: S608 - names from the model
        "WHERE licensing_license.id = v.pk_"
    )


def notification_insert(columns: list[str]) -> str:
    """INSERT of the notifications, given as one array per column (params as JSON text)."""
    n_fields = [Notification._meta.get_field(c) for c in columns]
    n_arrays = ", ".join(
        "%s::text[]" if f.name == "params" else f"%s::{f.cast_db_type(connection)}[]"
        for f in n_fields
    )
    n_names = ", ".join(f.column for f in n_fields)
    n_select = ", ".join(
        f"v.{f.column}::jsonb" if f.name == "params" else f"v.{f.column}" for f in n_fields
    )
    return (
        f"INSERT INTO licensing_notification ({n_names}) "  # noqa: S608 - names from the model
        f"SELECT {n_select} FROM unnest({n_arrays}) AS v ({n_names})"
    )


def sql_baseline_of_writes(writes: dict, repeat: int) -> tuple[float, int]:
    """Every row the run wrote, as plain SQL: one UPDATE of the licenses it changed to
    their new values, one INSERT … SELECT of their history rows, one INSERT of the
    notifications it created (reminders, alerts, the report)."""
    licenses, notifications = writes["licenses"], writes["notifications"]
    user = system_user().pk
    statements = []
    if licenses:
        license_columns = [list(c) for c in zip(*licenses, strict=True)]
        insert_history = history_insert(tracked_columns(), "nightly (baseline)")
        statements += [
            (license_update(), license_columns),
            (insert_history, [user, license_columns[0]]),
        ]
    if notifications:
        notification_columns = [list(c) for c in zip(*notifications, strict=True)]
        statements.append((notification_insert(writes["columns"]), notification_columns))
    seconds, _ = timed_rolled_back(statements, repeat)
    return seconds, len(statements)
