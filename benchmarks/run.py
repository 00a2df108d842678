"""Benchmarks of the admin and of the nightly run on PostgreSQL, at a small and a large size.

    .venv/bin/python benchmarks/run.py [options]        (or: make bench [BENCH_ARGS="..."])

Not part of the test suite. It uses its own PostgreSQL databases (never `licensing_desk*` or
`test_*`), one per size, created when missing, migrated, and filled by
`manage.py seed_scale`; a database whose scale data already has the wanted counts is reused,
so a second run starts measuring at once.

    small   200 partners,    2,000 licenses   the admin, size A
    medium  2,000 partners,  20,000 licenses  the nightly run, size A
    large   20,000 partners, 200,000 licenses the admin and the nightly run, size B

Each database is brought to the steady state of a desk whose nightly run already ran for
today (UTC): the run for today is executed once and committed, and its mails are marked
delivered (as the worker would). The nightly databases get, through
`seed_scale --due-on D --due N`, exactly N active licenses due on D = tomorrow, all of them
ones the run expires (trials, and Demo/Internal licenses of partners not in good standing),
so that the nightly run and the SQL baseline change the same rows.

It prints ONE table (columns A = the smaller size, B = the larger one, B/A their ratio):
- `admin`: every changelist of `admin.site._registry` (auth and axes left out) and the
  admin index (the dashboard) twice: as users meet it (figures from the cache while the
  data is unchanged) and counted (the data version replaced before each request); as the
  licensing team (`scale.licensing`) and as a channel manager of one region out of ten
  (`scale.cm.emea-south`): queries per request
  (CaptureQueriesContext) and the median server time of the requests with the Django test
  Client (force_login), after one warm-up request. One child process serves both sizes
  (the large database as a second connection, swapped in as the default one), their
  requests taking turns, --repeat per page in each of --rounds rounds; the note gives the
  page size and the slowest query at size B. A page that holds fewer rows at size A (a
  short list, or a channel manager's share of it) is measured once more at size B with
  `list_per_page` cut to A's rows: "same list, N rows at both sizes" is what the table's
  size costs, without the rendering of the rows that A does not have.
- `nightly`: `licensing.services.run_nightly(today=D)` with N due out of 20,000 (A) and
  200,000 (B) licenses: median time of --nightly-repeat runs (the night's last step,
  delivering its mail, only counts the mails it leaves to the outbox: delivery is one mail
  per transaction whatever the night and has a benchmark of its own, delivery.py; the
  warm-up night marks its mail delivered in one UPDATE), queries (savepoints left
  out: the run is measured inside a transaction that is rolled back, so each run starts
  from the same data; the tables it writes are vacuumed before each run and each
  baseline, as autovacuum keeps them, and the night and its baselines take turns),
  tracemalloc peak (one extra run), the time and queries of each
  step (each step function is wrapped with a timer in the benchmark process only); the
  baseline: the same row changes as plain SQL. A night does more than expire the due
  licenses (it also renews, cancels, flags and reminds), so the baseline is every row the
  run wrote: one UPDATE of each license it changed to its new values, one INSERT … SELECT
  of their history rows and one INSERT of the notifications it created, all captured from
  a run before its rollback; nightly / baseline. Beside it, a narrower baseline of the
  due licenses alone (one UPDATE of them and one INSERT … SELECT of their history rows),
  which leaves out the rest of the night's writes.
- `explain`: EXPLAIN (no ANALYZE) of every distinct SELECT the nightly run sends to
  licensing_license or a partners_* table, on both databases: executions and total time
  per run in the A/B columns, the scans in the note; "SEQ SCAN ON LARGE TABLE" marks a
  sequential scan of a table over --large-table rows, "PK-ORDER SCAN + FILTER" a walk of
  the primary key that filters every row (ORDER BY id LIMIT n), a full scan in disguise;
  the "as" column says whether the scans of large tables all use an index (at size B).
- `fanout`: the night of D on copies of the large database (--fanout-db), dispatched as
  --fanout-chunks chunk tasks to a Celery worker on Redis with 1 and then 2 processes
  (benchmarks/fanout.py): the time from dispatch to the end of the global steps, and the
  ratio 2 processes / 1.

Progress and the children's output go to stderr; stdout is the table, preceded by the sizes,
the seeding times and the load average during each part (other work on the machine skews
the times: compare runs made on a quiet machine).

Options:
  --pg URL              PostgreSQL server (default postgres://postgres@127.0.0.1:5432)
  --db-prefix NAME      databases NAME_small, NAME_medium, NAME_large (default bench)
  --small P:L           partners:licenses of the small database (default 200:2000)
  --medium P:L          (default 2000:20000)
  --large P:L           (default 20000:200000)
  --due N               licenses due on the measured day (default 5000)
  --day YYYY-MM-DD      the measured day D (default: tomorrow, UTC)
  --repeat N            requests per admin page (default 7)
  --rounds N            admin measurements, small then large, N times (default 3)
  --nightly-repeat N    timed nightly runs and baseline runs per database (default 5)
  --only admin|nightly|fanout
                        one part only (default all three)
  --fanout-db medium|large
                        the database whose night the fan-out runs (default large)
  --fanout-chunks N     chunk tasks of the fanned-out night (default 4)
  --reseed              drop (WITH FORCE: other sessions on them are ended) and re-create
                        the databases first
  --large-table ROWS    a table over this many rows is "large" (default 10000)
  --json PATH           also write every measurement as JSON

Internally the script runs itself as a child process per database and part (`--child`;
the admin part: one for both sizes), with DATABASE_URL pointing at that database, mail to a
dummy backend, Celery tasks to an in-memory broker that nothing consumes, and DEBUG off.

Each stage has a module beside this one: prepare.py (a database brought to the morning of
D), measure_admin.py, measure_nightly.py with baseline.py and explain.py, fanout.py, and
report.py (the table). This file parses the options, makes the databases and runs the
children; the children import the stages only after django.setup(), as they import models.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import ROOT, SIZES, log
from report import print_report

SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
FORBIDDEN_PREFIXES = ("licensing_desk", "test_")


def utc_today() -> date:
    return datetime.now(tz=UTC).date()


def size(value: str) -> tuple[int, int]:
    partners, licenses = value.split(":")
    return int(partners), int(licenses)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-prefix", default="bench")
    parser.add_argument("--small", type=size, default=(200, 2000))
    parser.add_argument("--medium", type=size, default=(2000, 20000))
    parser.add_argument("--large", type=size, default=(20000, 200000))
    parser.add_argument("--due", type=int, default=5000)
    parser.add_argument("--day", type=date.fromisoformat, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--nightly-repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["admin", "nightly", "fanout"], default=None)
    parser.add_argument("--fanout-chunks", type=int, default=4)
    parser.add_argument("--fanout-db", choices=["medium", "large"], default="large")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--large-table", type=int, default=10000)
    parser.add_argument("--json", default=None)
    # Internal: one part on one database, in a child process.
    parser.add_argument("--child", choices=["prepare", "admin", "nightly"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=size, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--db-large", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- parent: databases, children, the table -------------------------------------------------


def check_name(name: str) -> str:
    if not SAFE_NAME.match(name) or name.startswith(FORBIDDEN_PREFIXES):
        raise SystemExit(f"refusing to use the database {name!r}: pick another --db-prefix")
    return name


def ensure_database(pg: str, name: str, reseed: bool) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reseed:
            log(f"dropping {name} (--reseed)")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            log(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def child_env(pg: str, name: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"{pg}/{name}",
        DEBUG="false",
        ALLOWED_HOSTS="testserver,localhost",
        EMAIL_URL="dummymail://",
        # Tasks queued by a committed run go to a broker nobody reads: no mail, no worker.
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER="false",
        CACHE_URL="locmemcache://",
        LOG_LEVEL="WARNING",
    )
    return env


def run_child(
    args, part: str, name: str, sizes: tuple[int, int], day: date, due: int, extra=()
) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result = handle.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        part,
        "--db",
        name,
        "--size",
        f"{sizes[0]}:{sizes[1]}",
        "--result",
        result,
        "--day",
        day.isoformat(),
        "--due",
        str(due),
        "--repeat",
        str(args.repeat),
        "--nightly-repeat",
        str(args.nightly_repeat),
        "--large-table",
        str(args.large_table),
        *extra,
    ]
    log(f"[{name}] {part} …")
    started = time.monotonic()
    # The children's output (seeding progress, logs) goes to stderr: stdout is the table.
    completed = subprocess.run(  # noqa: S603 - our own script, no shell
        command, env=child_env(args.pg, name), cwd=ROOT, check=False, stdout=sys.stderr
    )
    if completed.returncode:
        raise SystemExit(f"[{name}] {part} failed (exit {completed.returncode})")
    data = json.loads(Path(result).read_text())
    Path(result).unlink()
    log(f"[{name}] {part} done in {time.monotonic() - started:.1f} s")
    return data


def measure_admin_rounds(args, names: dict, sizes: dict, day: date) -> dict:
    """The admin part: both sizes in one child process, their requests taking turns
    (TwoSizes), --rounds times. Each page's median is over the requests of every round."""
    rounds = []
    for i in range(args.rounds):
        log(f"admin round {i + 1} of {args.rounds}")
        extra = ("--db-large", names["large"])
        rounds.append(
            run_child(args, "admin", names["small"], sizes["small"], day, args.due, extra)
        )
    load = ", ".join(r["load"] for r in rounds)
    return {key: merge_rounds([r[key] for r in rounds], load) for key in SIZES}


def merge_rounds(runs: list[dict], load: str) -> dict:
    """The first round's pages, with the times (and medians) of every round."""
    merged = runs[0]
    for key, entry in merged["pages"].items():
        pages = [run["pages"][key] for run in runs]
        if "times" in entry:
            entry["times"] = [t for page in pages for t in page["times"]]
            entry["median"] = statistics.median(entry["times"])
        if "same_rows" in entry:
            same = entry["same_rows"]
            same["times"] = [t for page in pages for t in page["same_rows"]["times"]]
            same["median"] = statistics.median(same["times"])
    merged["load"] = load
    return merged


def main() -> None:
    args = parse_args()
    if args.child:
        return child(args)
    day = args.day or utc_today() + timedelta(days=1)
    names = {k: check_name(f"{args.db_prefix}_{k}") for k in ("small", "medium", "large")}
    sizes = {"small": args.small, "medium": args.medium, "large": args.large}
    wanted = {
        "admin": ("small", "large"),
        "nightly": ("medium", "large"),
        "fanout": (args.fanout_db,),
    }
    parts = [args.only] if args.only else ["admin", "nightly", "fanout"]
    needed = sorted({db for part in parts for db in wanted[part]}, key=list(names).index)
    results: dict = {
        "day": day.isoformat(),
        "prepare": {},
        "admin": {},
        "nightly": {},
        "fanout": {},
    }
    for key in needed:
        ensure_database(args.pg, names[key], args.reseed)
        # Only the nightly databases get a due set (--due 0: none).
        nightly_db = key in wanted["nightly"] + wanted["fanout"]
        due = args.due if {"nightly", "fanout"} & set(parts) and nightly_db else 0
        results["prepare"][key] = run_child(args, "prepare", names[key], sizes[key], day, due)
    for part in parts:
        if part == "fanout":
            results["fanout"] = measure_fanout(args, names[args.fanout_db], day)
            continue
        if part == "admin":
            results[part] = measure_admin_rounds(args, names, sizes, day)
            continue
        for key in wanted[part]:
            results[part][key] = run_child(args, part, names[key], sizes[key], day, args.due)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print_report(results, args, sizes)


def measure_fanout(args, source: str, day: date) -> dict:
    """The night of `day` on copies of `source`, split in chunk tasks, on a Celery worker
    with 1 and with 2 processes (benchmarks/fanout.py: Redis, loopback)."""
    import fanout

    found = {}
    for processes in (1, 2):
        log(f"[{source}] fan-out: {args.fanout_chunks} chunks on {processes} worker process(es) …")
        seconds, counts = fanout.measure(source, day.isoformat(), args.fanout_chunks, processes)
        log(f"[{source}] fan-out on {processes}: {seconds:.2f} s {counts}")
        found[processes] = {"seconds": seconds, "counts": counts}
    return {"source": source, "chunks": args.fanout_chunks, "runs": found}


# --- children: one database each (the admin part: both) ------------------------------------------


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    if args.db_large:
        add_large_database(args.db_large)
    django.setup()
    # The stages import the apps' models: only now can they be imported.
    from measure_admin import measure_admin
    from measure_nightly import measure_nightly
    from prepare import prepare

    before = os.getloadavg()[0]
    result = {"prepare": prepare, "admin": measure_admin, "nightly": measure_nightly}[args.child](
        args
    )
    # Other work on the machine skews the times: the load average says how busy it was.
    result["load"] = f"{before:.1f} -> {os.getloadavg()[0]:.1f}"
    Path(args.result).write_text(json.dumps(result, default=str))


def add_large_database(name: str) -> None:
    """Before django.setup(): the large database (and a cache of its own) beside the
    default one, the small database; measure_admin.TwoSizes swaps them."""
    from django.conf import settings

    settings.DATABASES["large"] = {**settings.DATABASES["default"], "NAME": name}
    settings.CACHES["large"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "bench-large",
    }


if __name__ == "__main__":
    main()
