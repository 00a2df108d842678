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
  200,000 (B) licenses: median time of --nightly-repeat runs, queries (savepoints left
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
"""

from __future__ import annotations

import argparse
import contextlib
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

ROOT = Path(__file__).resolve().parent.parent
SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
FORBIDDEN_PREFIXES = ("licensing_desk", "test_")
SCALE_PREFIX = "Scale Partner "
LICENSING_USER = "scale.licensing"
CHANNEL_MANAGER = "scale.cm.emea-south"
SKIPPED_APPS = {"auth", "axes"}
SIZES = ("small", "large")  # of the admin part


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


def log(message: str) -> None:
    print(f"{datetime.now(tz=UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


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


def fmt_ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:,.1f} ms"


def ratio(b: float | None, a: float | None) -> str:
    if not a or b is None:
        return ""
    return f"{b / a:,.1f}x"


def measured(section: str, what: str, who: str, a: tuple, b: tuple, note: str = "") -> list:
    """A table row of (queries, seconds) at sizes A and B, and their time ratio."""
    return [
        section,
        what,
        who,
        str(a[0]),
        fmt_ms(a[1]),
        str(b[0]),
        fmt_ms(b[1]),
        ratio(b[1], a[1]),
        note,
    ]


def print_report(results: dict, args, sizes: dict) -> None:
    header = ["section", "what", "as", "A queries", "A time", "B queries", "B time", "B/A", "note"]
    rows: list[list[str]] = []
    admin = results["admin"]
    if admin:
        small, large = admin["small"], admin["large"]
        for key, page in small["pages"].items():
            other = large["pages"].get(key, {})
            note = other.get("slowest", "")
            if "kb" in other:
                note = f"B page {other['kb']:,.0f} KB; {note}"
            if "rows" in other:
                # A page with fewer rows at size A renders less: part of the ratio.
                note = f"rows on the page {page['rows']} / {other['rows']}; {note}"
            if page["status"] != 200 or other.get("status") != 200:
                note = f"HTTP {page['status']} / {other.get('status')}"
            rows.append(
                measured(
                    "admin",
                    page["label"],
                    page["user"],
                    (page.get("queries", ""), page.get("median")),
                    (other.get("queries", ""), other.get("median")),
                    note,
                )
            )
            same = other.get("same_rows")
            if same:
                rows.append(
                    measured(
                        "admin",
                        f"  same list, {same['rows']} rows at both sizes",
                        page["user"],
                        (page.get("queries", ""), page.get("median")),
                        (same["queries"], same["median"]),
                        "B page cut to A's rows (list_per_page): the cost of the table's size",
                    )
                )
    nightly = results["nightly"]
    if nightly:
        a, b = nightly["medium"], nightly["large"]
        due = f"{args.due:,} due"
        rows.append(
            measured(
                "nightly",
                f"run_nightly(today={results['day']}), {due}",
                "system",
                (a["queries"], a["median"]),
                (b["queries"], b["median"]),
                f"peak memory {a['peak_mb']:.1f} MB / {b['peak_mb']:.1f} MB; "
                f"rows expired {a['changed']:,} / {b['changed']:,}; counts B {b['counts']}",
            )
        )
        for step in b["steps"]:
            rows.append(
                measured(
                    "nightly",
                    f"  step: {step}",
                    "",
                    (a["step_queries"].get(step, ""), a["steps"].get(step)),
                    (b["step_queries"].get(step, ""), b["steps"][step]),
                )
            )
        rows.append(
            measured(
                "nightly",
                f"narrower baseline SQL: UPDATE + INSERT…SELECT of the {due} only",
                "",
                (a["baseline_queries"], a["baseline"]),
                (b["baseline_queries"], b["baseline"]),
                "same rows, same history rows",
            )
        )
        written = "UPDATE of the licenses it changed ({:,} / {:,}) to their new values, "
        written += "INSERT…SELECT of their history rows, INSERT of its notifications ({:,} / {:,})"
        rows.append(
            measured(
                "nightly",
                "baseline SQL: the same row changes (every row the run wrote)",
                "",
                (a["full_baseline_queries"], a["full_baseline"]),
                (b["full_baseline_queries"], b["full_baseline"]),
                written.format(
                    a["written"]["licenses"],
                    b["written"]["licenses"],
                    a["written"]["notifications"],
                    b["written"]["notifications"],
                ),
            )
        )
        expire = "renew or expire", "expire trials"
        a_expire = sum(a["steps"].get(s, 0) for s in expire)
        b_expire = sum(b["steps"].get(s, 0) for s in expire)
        for what, a_time, a_base, b_time, b_base, note in [
            (
                "nightly / baseline of the same row changes",
                *(a["median"], a["full_baseline"], b["median"], b["full_baseline"]),
                "",
            ),
            (
                "nightly / narrower baseline, the due rows only (whole run)",
                *(a["median"], a["baseline"], b["median"], b["baseline"]),
                "",
            ),
            (
                "nightly / narrower baseline, the due rows only (expiry steps)",
                *(a_expire, a["baseline"], b_expire, b["baseline"]),
                "steps 'renew or expire' + 'expire trials'",
            ),
        ]:
            rows.append(
                [
                    "nightly",
                    what,
                    "",
                    "",
                    ratio(a_time, a_base),
                    "",
                    ratio(b_time, b_base),
                    "",
                    note,
                ]
            )
        plans_a = {p["key"]: p for p in a["explain"]}
        for plan in b["explain"]:
            other = plans_a.get(plan["key"], {})
            rows.append(
                [
                    "explain",
                    plan["label"],
                    f"index: {plan['index']}",
                    str(other.get("executions", "")),
                    fmt_ms(other.get("total")),
                    str(plan["executions"]),
                    fmt_ms(plan["total"]),
                    "",
                    f"B: {plan['scans']}" + (f" | A: {other['scans']}" if other else ""),
                ]
            )
    fan = results.get("fanout")
    if fan:
        runs = fan["runs"]
        one, two = runs[1]["seconds"], runs[2]["seconds"]
        size = sizes[args.fanout_db][1]
        what = f"nightly in {fan['chunks']} chunk tasks, {size:,} licenses, {args.due:,} due"
        rows.append(
            [
                "fanout",
                what,
                "Celery on Redis",
                "1 process",
                fmt_ms(one),
                "2 processes",
                fmt_ms(two),
                ratio(two, one),
                f"dispatch to the end of the global steps; counts {runs[2]['counts']}",
            ]
        )
    legend = (
        f"A = small ({sizes['small'][1]:,} licenses, {sizes['small'][0]:,} partners) for admin "
        f"rows, medium ({sizes['medium'][1]:,} licenses) for nightly/explain rows; "
        f"B = large ({sizes['large'][1]:,} licenses, {sizes['large'][0]:,} partners). "
        f"Admin times: median of {args.repeat} requests in each of {args.rounds} rounds; "
        f"nightly: median of "
        f"{args.nightly_repeat} runs. Measured day D = {results['day']}."
    )
    print()
    print(legend)
    for key, prep in results["prepare"].items():
        seeded = f"seeded in {prep['seed_seconds']:.1f} s" if prep.get("seed_seconds") else "reused"
        print(f"  {key}: {prep['counts']} ({seeded})")
    parts = [f"admin rounds {results['admin']['small']['load']}"] if results["admin"] else []
    parts += [f"nightly {key} {data['load']}" for key, data in results["nightly"].items()]
    loads = ", ".join(parts)
    print(f"  load average (1 min) during the measurements: {loads} on {os.cpu_count()} CPUs")
    print()
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    right = {3, 4, 5, 6, 7}

    def line(cells):
        out = [
            (str(c).rjust(w) if i in right else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(cells[:-1], widths, strict=True))
        ]
        return "  ".join(out) + "  " + cells[-1]

    print(line(header))
    print(line(["-" * w for w in widths] + ["-" * 4]))
    for row in rows:
        print(line(row).rstrip())


# --- children: one database each (the admin part: both) ------------------------------------------


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    if args.db_large:
        add_large_database(args.db_large)
    django.setup()
    before = os.getloadavg()[0]
    result = {"prepare": prepare, "admin": measure_admin, "nightly": measure_nightly}[args.child](
        args
    )
    # Other work on the machine skews the times: the load average says how busy it was.
    result["load"] = f"{before:.1f} -> {os.getloadavg()[0]:.1f}"
    Path(args.result).write_text(json.dumps(result, default=str))


def prepare(args) -> dict:
    """Migrate, seed unless the wanted data is there, make the due set, and bring the
    database to the state after the nightly run of the day before D."""
    from django.core.management import call_command
    from django.db import connection

    from licensing.models import License, NightlyRun
    from partners.models import Partner

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
    """The nightly run of the day before, committed, its mails marked delivered: the desk as
    it is every morning."""
    from django.utils import timezone
    from simple_history.utils import bulk_update_with_history

    from licensing.models import Notification
    from licensing.nightly import system_user
    from licensing.services import run_nightly

    started = time.monotonic()
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


def slowest(captured: list[dict]) -> str:
    if not captured:
        return ""
    query = max(captured, key=lambda q: float(q["time"]))
    sql = re.sub(r"\s+", " ", query["sql"])
    return f"slowest {float(query['time']) * 1000:.0f} ms: {sql[:110]}"


class TwoSizes:
    """Both databases in one process, the requests of the two sizes taking turns.

    The machine's speed drifts (other work, CPU frequency): two sizes measured one after
    the other compare two moments as much as two sizes. Here each request to the small
    database is followed by the same request to the large one. `use("large")` makes the
    "large" database connection and its own cache (the dashboard's figures are cached
    per database) the default ones for the requests made inside it."""

    def __init__(self):
        from django.contrib.contenttypes.models import ContentType
        from django.core.cache import caches
        from django.db import connections

        self.handlers = (connections, caches)
        self.content_types = ContentType.objects
        self.other_content_types: dict = {}  # the cache of the size not in use

    @contextlib.contextmanager
    def use(self, key: str):
        if key == "small":
            yield
            return
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def _swap(self) -> None:
        for handler in self.handlers:
            default, large = handler["default"], handler["large"]
            handler._connections.default = large
            handler._connections.large = default
        # Content type ids may differ between the databases: each size keeps its own.
        self.content_types._cache, self.other_content_types = (
            self.other_content_types,
            self.content_types._cache,
        )


def add_large_database(name: str) -> None:
    """Before django.setup(): the large database (and a cache of its own) beside the
    default one, the small database."""
    from django.conf import settings

    settings.DATABASES["large"] = {**settings.DATABASES["default"], "NAME": name}
    settings.CACHES["large"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "bench-large",
    }


def measure_admin(args) -> dict:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from partners import dashboard_cache

    setup_test_environment()
    sizes = TwoSizes()
    User = get_user_model()
    clients = {}
    for key in SIZES:
        with sizes.use(key):
            for who, username in (("licensing", LICENSING_USER), ("channel mgr", CHANNEL_MANAGER)):
                clients[key, who] = Client()
                clients[key, who].force_login(User.objects.get(username=username))

    def unchanged():
        pass

    index = reverse("admin:index")
    # (label, url, what happens before each request): the dashboard as users meet it (its
    # figures cached until the data changes), and counted, as after every change.
    pages = [
        ("admin index (dashboard)", index, unchanged),
        ("admin index (dashboard), figures counted", index, dashboard_cache.data_changed),
    ]
    admins = {}
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if meta.app_label in SKIPPED_APPS:
            continue
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        pages.append((f"{meta.app_label}.{meta.model_name} list", url, unchanged))
        admins[url] = model_admin

    @contextlib.contextmanager
    def page_size(url, rows):
        if rows is None:
            yield
            return
        admins[url].list_per_page = max(rows, 1)
        try:
            yield
        finally:
            del admins[url].list_per_page  # back to the class's page size

    def get(key, who, url, before, rows=None):
        """One request; (seconds, response)."""
        with sizes.use(key), page_size(url, rows):
            before()
            started = time.perf_counter()
            response = clients[key, who].get(url)
            return time.perf_counter() - started, response

    def queries_of(key, who, url, before, rows=None) -> list[dict]:
        """The SQL of one request, read while this size's connection is the default one."""
        with sizes.use(key), page_size(url, rows):
            with CaptureQueriesContext(connection) as ctx:
                before()
                clients[key, who].get(url)
            return list(ctx.captured_queries)

    def describe(response, captured, times) -> dict:
        changelist = response.context and response.context.get("cl")
        entry = {
            "kb": len(response.content) / 1024,
            "queries": len(captured),
            "median": statistics.median(times),
            "times": times,
            "slowest": slowest(captured),
        }
        if changelist is not None:
            entry["rows"] = len(changelist.result_list)
        return entry

    results: dict = {key: {} for key in SIZES}
    for who in ("licensing", "channel mgr"):
        for label, url, before in pages:
            status, captured = {}, {}
            for key in SIZES:
                # Warm-up (templates, caches, connection), then the queries of one request.
                status[key] = get(key, who, url, before)[1].status_code
                if status[key] == 200:
                    captured[key] = queries_of(key, who, url, before)
            entries = {k: {"label": label, "user": who, "status": status[k]} for k in SIZES}
            if all(status[k] == 200 for k in SIZES):
                times: dict = {key: [] for key in SIZES}
                last = {}
                for _ in range(args.repeat):
                    for key in SIZES:
                        seconds, last[key] = get(key, who, url, before)
                        assert last[key].status_code == 200  # noqa: S101 - a sanity check
                        times[key].append(seconds)
                for key in SIZES:
                    entries[key].update(describe(last[key], captured[key], times[key]))
                small_rows = entries["small"].get("rows")
                if small_rows is not None and entries["large"].get("rows", 0) > small_rows:
                    # The same page with as many rows as at the small size: what the
                    # table's size costs, without the rendering of the extra rows.
                    get("large", who, url, before, small_rows)  # warm-up
                    cut_queries = queries_of("large", who, url, before, small_rows)
                    cut = []
                    for _ in range(args.repeat):
                        get("small", who, url, before)  # keeps the turns of the two sizes
                        seconds, response = get("large", who, url, before, small_rows)
                        cut.append(seconds)
                    same = describe(response, cut_queries, cut)
                    entries["large"]["same_rows"] = {
                        k: same[k] for k in ("rows", "queries", "median", "times")
                    }
            for key in SIZES:
                results[key][f"{label}|{who}"] = entries[key]
            log(
                f"{label} as {who}: "
                + ", ".join(
                    f"{key} HTTP {entries[key]['status']} {entries[key].get('queries', '-')} "
                    f"queries {fmt_ms(entries[key].get('median'))}"
                    for key in SIZES
                )
            )
    return {key: {"pages": results[key]} for key in SIZES}


SAVEPOINT = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)


def measure_nightly(args) -> dict:
    import tracemalloc

    from django.db import connection, transaction
    from django.db.models import Max
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from licensing.models import License, Notification
    from licensing.services import run_nightly

    day = args.day
    due_ids = list(
        License.objects.filter(state="active", ends_on__lt=day).values_list("pk", flat=True)
    )
    if len(due_ids) != args.due:
        raise SystemExit(f"{len(due_ids):,} licenses due on {day}, not {args.due:,}")

    steps: dict[str, float] = {}
    step_queries: dict[str, int] = {}
    instrument_steps(steps, step_queries)

    def one_run(mode: str = "time") -> dict:
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
        "explain": explain(counted["queries"], args.large_table),
    }


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


def vacuum_written_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(WRITTEN_TABLES)}")


def instrument_steps(steps: dict, step_queries: dict) -> None:
    """Time each step of the nightly run and count its queries (savepoints left out):
    the run's own progress line rounds to 10 ms. Only in this benchmark process."""
    import functools

    from django.db import connection

    from licensing import nightly

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


def sql_baseline(due_ids: list[int], repeat: int) -> tuple[float, int]:
    """The same row changes as the nightly expiry, as plain SQL: one UPDATE, one INSERT."""
    from django.db import connection, transaction

    from licensing.models import License
    from licensing.nightly import system_user

    history = License.history.model
    columns = [f.column for f in history.tracked_fields]
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    update = (
        "UPDATE licensing_license SET state = 'expired', expired_on = ends_on + 1 "
        "WHERE id = ANY(%s)"
    )
    insert = (
        f"INSERT INTO {history._meta.db_table} ({names}, history_date, "  # noqa: S608 - names from the model
        "history_change_reason, history_type, history_user_id) "
        f"SELECT {names}, now(), 'expired (baseline)', '~', %s FROM licensing_license "
        "WHERE id = ANY(%s)"
    )
    user = system_user().pk
    times = []
    for _ in range(repeat):
        # Timed like the nightly runs: no query capture.
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(update, [due_ids])
                changed = cursor.rowcount
                cursor.execute(insert, [user, due_ids])
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
        assert changed == len(due_ids)  # noqa: S101 - a benchmark sanity check
    return statistics.median(times), 2


# What the nightly run may write to a license (the rest of the row stays as it was).
NIGHTLY_COLUMNS = (
    "state",
    "ends_on",
    "expired_on",
    "cancelled_on",
    "state_reason",
    "provisioning_overdue_since",
)


def run_writes(started_at, notifications_before: int) -> dict:
    """Every row a run wrote, read inside its transaction before the rollback: the
    licenses it changed (with their new values) and the notifications it created."""
    import json

    from licensing.models import License, Notification

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


def sql_baseline_of_writes(writes: dict, repeat: int) -> tuple[float, int]:
    """Every row the run wrote, as plain SQL: one UPDATE of the licenses it changed to
    their new values, one INSERT … SELECT of their history rows, one INSERT of the
    notifications it created (reminders, alerts, the report)."""
    from django.db import connection, transaction

    from licensing.models import License, Notification
    from licensing.nightly import system_user

    quote = connection.ops.quote_name
    lic_fields = [License._meta.pk] + [License._meta.get_field(c) for c in NIGHTLY_COLUMNS]
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in lic_fields)
    names = ", ".join(["pk_"] + [f"v{i}" for i in range(len(NIGHTLY_COLUMNS))])
    assign = ", ".join(f"{quote(f.column)} = v.v{i}" for i, f in enumerate(lic_fields[1:]))
    update = (
        f"UPDATE licensing_license SET {assign} FROM unnest({arrays}) AS v ({names}) "  # noqa: S608 - names from the model
        "WHERE licensing_license.id = v.pk_"
    )
    history = License.history.model
    tracked = ", ".join(quote(f.column) for f in history.tracked_fields)
    insert_history = (
        f"INSERT INTO {history._meta.db_table} ({tracked}, history_date, "  # noqa: S608 - names from the model
        "history_change_reason, history_type, history_user_id) "
        f"SELECT {tracked}, now(), 'nightly (baseline)', '~', %s FROM licensing_license "
        "WHERE id = ANY(%s)"
    )
    n_fields = [Notification._meta.get_field(c) for c in writes["columns"]]
    n_arrays = ", ".join(
        "%s::text[]" if f.name == "params" else f"%s::{f.cast_db_type(connection)}[]"
        for f in n_fields
    )
    n_names = ", ".join(f.column for f in n_fields)
    n_select = ", ".join(
        f"v.{f.column}::jsonb" if f.name == "params" else f"v.{f.column}" for f in n_fields
    )
    insert_notifications = (
        f"INSERT INTO licensing_notification ({n_names}) "  # noqa: S608 - names from the model
        f"SELECT {n_select} FROM unnest({n_arrays}) AS v ({n_names})"
    )
    licenses, notifications = writes["licenses"], writes["notifications"]
    license_columns = [list(c) for c in zip(*licenses, strict=True)] if licenses else []
    notification_columns = (
        [list(c) for c in zip(*notifications, strict=True)] if notifications else []
    )
    user = system_user().pk
    statements = [
        *(
            [(update, license_columns), (insert_history, [user, license_columns[0]])]
            if licenses
            else []
        ),
        *([(insert_notifications, notification_columns)] if notifications else []),
    ]
    times = []
    for _ in range(repeat):
        # Timed like the nightly runs: no query capture.
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    return statistics.median(times), len(statements)


LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
SELECTIVE_TABLES = ("licensing_license", "partners_")


def normalize(sql: str) -> str:
    sql = LITERAL.sub("?", sql)
    sql = re.sub(r"\(\s*\?(?:\s*,\s*\?)*\s*\)", "(…)", sql)
    return re.sub(r"\s+", " ", sql).strip()


def label_of(sql: str) -> str:
    """A short name for a query: its table, the columns it filters on, its shape."""
    table = re.search(r'\bFROM "(\w+)"', sql)
    where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else ""
    where = re.split(r" ORDER BY | GROUP BY | LIMIT ", where)[0]
    columns = []
    for found in re.finditer(r'"(\w+)"\."(\w+)"\s*(<=|>=|<|>|=|IN|IS)', where):
        name = f"{found[2]}{found[3].strip().replace('IN', ' IN').replace('IS', ' IS')}"
        if name not in columns:
            columns.append(name)
    shape = [
        word
        for word, needle in (
            ("EXISTS", "EXISTS("),
            ("GROUP BY", " GROUP BY "),
            ("ORDER BY", " ORDER BY "),
            ("LIMIT", " LIMIT "),
            ("FOR UPDATE", " FOR UPDATE"),
        )
        if needle in sql
    ]
    text = f"{table[1] if table else '?'}: {', '.join(columns) or '-'}"
    return f"{text} [{' '.join(shape)}]" if shape else text


def explain(queries: list[dict], large_table: int) -> list[dict]:
    """EXPLAIN every distinct SELECT on licensing_license or partners_* tables; sum their
    executions and time in the run."""
    from django.db import connection

    groups: dict[str, dict] = {}
    for query in queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        if not any(f'"{t}' in sql for t in SELECTIVE_TABLES):
            continue
        key = normalize(sql)
        group = groups.setdefault(key, {"sql": sql, "executions": 0, "total": 0.0})
        group["executions"] += 1
        group["total"] += float(query["time"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind IN ('r', 'p')"
        )
        rows = dict(cursor.fetchall())
        large = {name for name, n in rows.items() if n > large_table}
        out = []
        for key, group in groups.items():
            cursor.execute(f"EXPLAIN (FORMAT JSON) {group['sql']}")  # noqa: S608 - our own SQL
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            scans = list(walk(plan[0]["Plan"]))
            words, verdict = [], "yes"
            for node, relation, index, cond, filtered in scans:
                text = f"{node} {relation}".rstrip() + (
                    f" ({index}: {cond or 'no condition'})" if index else ""
                )
                if node == "Seq Scan" and relation in large:
                    text += f" <- SEQ SCAN ON LARGE TABLE ({rows[relation]:,} rows)"
                    verdict = "NO: seq scan"
                elif (
                    index.endswith("_pkey")
                    and filtered
                    and relation in large
                    and (not cond or re.fullmatch(r"\(id [<>]=? .*\)", cond))
                ):
                    # ORDER BY id LIMIT n walks the primary key and filters every row until
                    # n match: a full scan in disguise when the matches are few.
                    text += " <- PK-ORDER SCAN + FILTER ON LARGE TABLE"
                    verdict = "NO: pk walk" if verdict == "yes" else verdict
                words.append(text)
            out.append(
                {
                    "key": key,
                    "label": label_of(group["sql"]),
                    "executions": group["executions"],
                    "total": group["total"],
                    "scans": "; ".join(words),
                    "index": verdict,
                }
            )
    return sorted(out, key=lambda p: -p["total"])


def walk(node: dict):
    """(node type, table, index, index condition, has a filter) of every scan in a plan."""
    if "Relation Name" in node or node["Node Type"] == "Bitmap Index Scan":
        cond = node.get("Index Cond") or node.get("Recheck Cond") or ""
        cond = re.sub(r"\((\w+)\)::\w+", r"\1", cond)  # (state)::text -> state
        cond = re.sub(r"::(timestamp with time zone|[\w\[\]]+)", "", cond)  # 'x'::date -> 'x'
        cond = cond.replace("'", "")
        if len(cond) > 90:
            cond = cond[:87] + "..."
        yield (
            node["Node Type"],
            node.get("Relation Name", ""),
            node.get("Index Name", ""),
            cond,
            "Filter" in node,
        )
    for child_node in node.get("Plans", []):
        yield from walk(child_node)


if __name__ == "__main__":
    main()
