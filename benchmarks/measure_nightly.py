"""The nightly part, in a child process on one database: `run_nightly(today=D)` beside its
SQL baselines (baseline.py), its steps timed, its SELECTs explained (explain.py).

Each run is made inside a transaction that is rolled back, so that every run starts from the
same data; the tables a night writes are vacuumed before each run and each baseline, as
autovacuum keeps them, and the night and its baselines take turns.
"""

from __future__ import annotations

import contextlib
import functools
import re
import statistics
import time
import tracemalloc

from django.db import connection, transaction
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing import nightly
from licensing.models import License, Notification
from licensing.services import run_nightly

# isort: split
# The modules beside this one (run as a script, its directory comes first on sys.path).
from baseline import run_writes, sql_baseline, sql_baseline_of_writes
from common import leave_mail_to_the_outbox, log
from explain import explain

SAVEPOINT = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)

# The tables a night writes to (and its rolled-back runs leave dead rows in).
WRITTEN_TABLES = (
    "licensing_license",
    "licensing_historicallicense",
    "licensing_notification",
    "licensing_historicalnotification",
    "partners_partner",
    "partners_historicalpartner",
    "licensing_nightlyrun",
)


def measure_nightly(args) -> dict:
    day = args.day
    due_ids = list(
        License.objects.filter(state="active", ends_on__lt=day).values_list("pk", flat=True)
    )
    if len(due_ids) != args.due:
        raise SystemExit(f"{len(due_ids):,} licenses due on {day}, not {args.due:,}")

    steps: dict[str, float] = {}
    step_queries: dict[str, int] = {}
    leave_mail_to_the_outbox()
    instrument_steps(steps, step_queries)
    one_run = functools.partial(rolled_back_run, day, due_ids, steps, step_queries)

    # The SQL text and the rows it wrote come from a first run (the full baseline replays
    # them). Then each round times the night and both baselines in turn, each on tables
    # vacuumed as autovacuum keeps them: a rolled-back run leaves dead rows behind, which
    # would make every later run (and the baselines after it) read more.
    vacuum_written_tables()
    counted = one_run("queries")
    log(f"[{args.db}] nightly run with queries captured: {len(counted['queries'])} queries")
    runs, baselines, fulls = [], [], []
    for i in range(args.nightly_repeat):
        vacuum_written_tables()
        runs.append(one_run())
        log(f"[{args.db}] nightly run {i + 1}: {runs[-1]['elapsed']:.2f} s {runs[-1]['counts']}")
        vacuum_written_tables()
        baselines.append(sql_baseline(due_ids, 1))
        vacuum_written_tables()
        fulls.append(sql_baseline_of_writes(counted["writes"], 1))
    vacuum_written_tables()
    traced = one_run("memory")
    log(f"[{args.db}] nightly run with tracemalloc: peak {traced['peak'] / 2**20:.1f} MB")
    vacuum_written_tables()
    return summary(runs, counted, traced, baselines, fulls, args.large_table)


def summary(runs, counted, traced, baselines, fulls, large_table: int) -> dict:
    """Medians of the timed runs and baselines; queries, per-step queries and plans from
    the counted run, the memory peak from the traced one."""
    baseline, baseline_queries = statistics.median(b[0] for b in baselines), baselines[0][1]
    full, full_queries = statistics.median(f[0] for f in fulls), fulls[0][1]
    last = runs[-1]
    return {
        "median": statistics.median(r["elapsed"] for r in runs),
        "queries": len(counted["queries"]),
        "counts": {k: v for k, v in last["counts"].items() if v},
        "changed": last["changed"],
        "steps": {s: statistics.median(r["steps"][s] for r in runs) for s in last["steps"]},
        "step_queries": counted["step_queries"],
        "peak_mb": traced["peak"] / 2**20,
        "baseline": baseline,
        "baseline_queries": baseline_queries,
        "full_baseline": full,
        "full_baseline_queries": full_queries,
        "written": {
            "licenses": len(last["writes"]["licenses"]),
            "notifications": len(last["writes"]["notifications"]),
        },
        "explain": explain(counted["queries"], large_table),
    }


def rolled_back_run(day, due_ids, steps: dict, step_queries: dict, mode: str = "time") -> dict:
    """One run, rolled back. Timed runs record nothing else: capturing the SQL text
    of every query (mode "queries") or tracing allocations (mode "memory") costs
    time of its own, so each has a run of its own."""
    steps.clear()
    step_queries.clear()
    notifications_before = Notification.objects.aggregate(last=Max("pk"))["last"] or 0
    started_at = timezone.now()
    capture = CaptureQueriesContext(connection) if mode == "queries" else None
    with transaction.atomic():
        if mode == "memory":
            tracemalloc.start()
        # (Not `capture or …`: the context has a length, 0 before it is entered.)
        with capture if capture is not None else contextlib.nullcontext():
            started = time.perf_counter()
            counts = run_nightly(today=day)
            elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if mode == "memory" else 0
        if mode == "memory":
            tracemalloc.stop()
        changed = License.objects.filter(pk__in=due_ids, state="expired").count()
        writes = run_writes(started_at, notifications_before)
        transaction.set_rollback(True)
    queries = capture.captured_queries if capture is not None else []
    return {
        "elapsed": elapsed,
        "counts": counts,
        "steps": dict(steps),
        "step_queries": dict(step_queries),
        "queries": [q for q in queries if not SAVEPOINT.match(q["sql"])],
        "peak": peak,
        "changed": changed,
        "writes": writes,
    }


def vacuum_written_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(WRITTEN_TABLES)}")


def instrument_steps(steps: dict, step_queries: dict) -> None:
    """Time each step of the nightly run and count its queries (savepoints left out):
    the run's own progress line rounds to 10 ms. Only in this benchmark process."""
    for i, step in enumerate(nightly.STEPS):
        original = getattr(step, "__wrapped__", step)

        @functools.wraps(original)
        def timed(ctx, _step=original):
            name = _step.__name__.replace("_", " ")
            before = len(connection.queries_log)
            started = time.perf_counter()
            try:
                return _step(ctx)
            finally:
                steps[name] = time.perf_counter() - started
                issued = list(connection.queries_log)[before:]
                step_queries[name] = sum(1 for q in issued if not SAVEPOINT.match(q["sql"]))

        nightly.STEPS[i] = timed
