"""Usage benchmark on PostgreSQL: the usage API under gunicorn, and the nightly usage check.

    .venv/bin/python benchmarks/usage.py [options]          (make bench runs it)

1. `api`: N infrastructures (default 20,000), each with an API token made up front, report
   one day through `POST /api/usage` to gunicorn (gthread workers), driven by a small
   threaded load generator in this script (keep-alive connections, one request per
   infrastructure): requests per second, latency p50/p95/p99, the answers by status, and the
   reports found stored afterwards.
2. `nightly`: the "check usage" step (`licensing.nightly.usage.check_usage`) for day D on a
   database seeded by `seed_scale` (--partners/--licenses, default 2,000/20,000; 20,000/
   200,000 is SPEC's size) with --reports fresh reports dated D−1 (default: one for every
   tenth license), some over a limit, some with external users, some with users abroad;
   beside plain SQL doing the same comparison and row changes (the incidents, their history
   rows, their partners out of good standing, two notifications each) in four statements:
   median time of --repeat runs, each in a transaction rolled back so every run starts
   from the same data, and the queries each sends (savepoints left out), with the
   incidents both opened (they must agree).

Own database (--db, default bench_usage: created, migrated and seeded when missing, reused
after). Figures printed to stdout (and appended to the file --out names, if any); progress
to stderr. The machine's load skews the times: the load average is printed.

Options: --pg URL, --db NAME, --only api|nightly, --infrastructures N, --concurrency N,
--workers N, --threads N, --partners N, --licenses N, --reports N, --repeat N, --out PATH.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# isort: split
# The modules beside this one (run as a script, its directory comes first on sys.path).
from common import log

ROOT = Path(__file__).resolve().parent.parent
API_PREFIX = "BENCH-API-"
PORT = 8765


def env_for(args) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"{args.pg}/{args.db}",
        DEBUG="false",
        EMAIL_URL="memorymail://",
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER="false",
        CACHE_URL="locmemcache://",
        LOG_LEVEL="WARNING",
        # Connections kept between requests, as in production.
        CONN_MAX_AGE="60",
        # One report per token: the limits are not what is measured.
        IPP_API_RATE_LIMIT="1000000",
        IPP_API_ANONYMOUS_RATE_LIMIT="1000000",
    )
    return env


# --- children: Django set up on the benchmark database -------------------------------------


def django_child():
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()


def setup_api(count: int, tokens_path: str) -> None:
    """N infrastructures with one fresh token each (hashes stored, tokens written to a
    file for the load generator); their earlier reports deleted."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from ipp.models import InfrastructureToken
    from ipp.services import hash_token
    from licensing.models import Infrastructure, UsageReport

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench.usage")
    have = Infrastructure.objects.filter(registration_id__startswith=API_PREFIX).count()
    Infrastructure.objects.bulk_create(
        (
            Infrastructure(
                name=f"Bench infrastructure {i:06d}",
                hosting="on_premises",
                registration_id=f"{API_PREFIX}{i:06d}",
                registered_on=timezone.now().date(),
            )
            for i in range(have + 1, count + 1)
        ),
        batch_size=2000,
    )
    ids = list(
        Infrastructure.objects.filter(registration_id__startswith=API_PREFIX)
        .order_by("registration_id")
        .values_list("pk", flat=True)[:count]
    )
    InfrastructureToken.objects.filter(infrastructure_id__in=ids).delete()
    UsageReport.objects.filter(infrastructure_id__in=ids).delete()
    tokens = [secrets.token_urlsafe(32) for _ in ids]
    now = timezone.now()
    InfrastructureToken.objects.bulk_create(
        (
            InfrastructureToken(
                infrastructure_id=pk,
                key_prefix=token[:8],
                key_hash=hash_token(token),
                created_by=user,
                created_at=now,
            )
            for pk, token in zip(ids, tokens, strict=True)
        ),
        batch_size=2000,
    )
    Path(tokens_path).write_text("\n".join(tokens))


def stored_reports(day: date) -> int:
    from licensing.models import UsageReport

    return UsageReport.objects.filter(
        infrastructure__registration_id__startswith=API_PREFIX, reported_on=day
    ).count()


def child(args) -> None:
    django_child()
    if args.child == "setup-api":
        setup_api(args.infrastructures, args.tokens)
    elif args.child == "stored":
        reported_on = date.fromisoformat(args.day) - timedelta(days=1)
        print(json.dumps({"stored": stored_reports(reported_on)}))
    elif args.child == "nightly":
        from usage_nightly import measure_nightly

        print(json.dumps(measure_nightly(args)))


def run_child(args, part: str, *extra: str) -> dict:
    command = [sys.executable, __file__, "--child", part, *extra, *passthrough(args)]
    out = subprocess.run(  # noqa: S603
        command, cwd=ROOT, env=env_for(args), stdout=subprocess.PIPE, text=True, check=True
    ).stdout.strip()
    return json.loads(out.splitlines()[-1]) if out else {}


def passthrough(args) -> list[str]:
    return [
        f"--{name}={getattr(args, name.replace('-', '_'))}"
        for name in ("pg", "db", "infrastructures", "partners", "licenses", "reports", "repeat")
    ] + [f"--day={args.day}"]


# --- the load generator ------------------------------------------------------------------


def load(tokens: list[str], day: date, concurrency: int) -> dict:
    """Every token posts one report, from `concurrency` threads over keep-alive connections;
    the latency of each request as the client saw it."""
    work: queue.Queue[str] = queue.Queue()
    for token in tokens:
        work.put(token)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    body_for = {
        "reported_on": (day - timedelta(days=1)).isoformat(),
        "application_objects": 1800,
        "disk_gb": 5.25,
        "internal_users": 60,
        "external_users": 0,
        "internal_users_by_country": {"PT": 55, "ES": 5},
    }
    body = json.dumps(body_for).encode()

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        mine, seen = [], {}
        while True:
            try:
                token = work.get_nowait()
            except queue.Empty:
                break
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            started = time.perf_counter()
            try:
                connection.request("POST", "/api/usage", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                status = 0
            mine.append(time.perf_counter() - started)
            seen[status] = seen.get(status, 0) + 1
        connection.close()
        with lock:
            latencies.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "requests": len(latencies),
        "seconds": wall,
        "rps": len(latencies) / wall,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000,
        "statuses": statuses,
    }


def wait_for_server(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            connection.request("GET", "/api/openapi.json")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("gunicorn did not answer")


def bench_api(args) -> list[str]:
    day = date.fromisoformat(args.day)
    with tempfile.TemporaryDirectory() as folder:
        tokens_path = str(Path(folder) / "tokens")
        log(f"api: {args.infrastructures:,} infrastructures and tokens")
        run_child(args, "setup-api", f"--tokens={tokens_path}")
        tokens = Path(tokens_path).read_text().split()
    gunicorn = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{PORT}",
        f"--workers={args.workers}",
        "--worker-class=gthread",
        f"--threads={args.threads}",
        "--log-level=warning",
    ]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env_for(args), start_new_session=True)  # noqa: S603
    try:
        wait_for_server()
        log(f"api: {len(tokens):,} reports, {args.concurrency} client threads")
        before = os.getloadavg()[0]
        result = load(tokens, day, args.concurrency)
        after = os.getloadavg()[0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    stored = run_child(args, "stored")["stored"]
    return [
        f"usage API under gunicorn ({args.workers} gthread workers × {args.threads} threads), "
        f"{args.concurrency} client threads, keep-alive, PostgreSQL {args.db}:",
        f"  {result['requests']:,} reports in {result['seconds']:.1f} s: "
        f"{result['rps']:,.0f} requests/s; latency p50 {result['p50']:.1f} ms, "
        f"p95 {result['p95']:.1f} ms, p99 {result['p99']:.1f} ms (mean {result['mean']:.1f} ms)",
        f"  answers {dict(sorted(result['statuses'].items()))}; reports stored {stored:,}; "
        f"load average {before:.1f} → {after:.1f}",
    ]


def bench_nightly(args) -> list[str]:
    log(f"nightly: {args.licenses:,} licenses, {args.reports:,} reports (seeding if needed)")
    before = os.getloadavg()[0]
    result = run_child(args, "nightly")
    after = os.getloadavg()[0]
    step, sql, prepared = result["step"], result["sql"], result["prepared"]
    step_s, sql_s = statistics.median(step["seconds"]), statistics.median(sql["seconds"])
    return [
        f"nightly check usage on {prepared['licenses']:,} licenses ({prepared['active']:,} "
        f"active on an infrastructure), {prepared['reports']:,} fresh reports, median of "
        f"{args.repeat}:",
        f"  check_usage step  {step_s * 1000:9,.0f} ms  {step['queries']:3} queries  "
        f"{step['opened']:,} incidents opened",
        f"  plain SQL         {sql_s * 1000:9,.0f} ms  {sql['queries']:3} queries  "
        f"{sql['opened']:,} incidents opened",
        f"  step / SQL: {step_s / sql_s:.2f}×; load average {before:.1f} → {after:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="bench_usage")
    parser.add_argument("--only", choices=["api", "nightly"])
    parser.add_argument("--infrastructures", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--partners", type=int, default=2_000)
    parser.add_argument("--licenses", type=int, default=20_000)
    parser.add_argument("--reports", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--day", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", choices=["setup-api", "stored", "nightly"])
    parser.add_argument("--tokens")
    args = parser.parse_args()
    args.reports = args.reports if args.reports is not None else args.licenses // 10
    # D: tomorrow (UTC): the reports are dated today, what the platforms send tonight.
    args.day = args.day or (datetime.now(tz=UTC).date() + timedelta(days=1)).isoformat()
    if args.child:
        child(args)
        return
    ensure_database(args)
    lines = [f"benchmarks/usage.py, {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC, D = {args.day}"]
    if args.only in (None, "api"):
        lines += bench_api(args)
    if args.only in (None, "nightly"):
        lines += bench_nightly(args)
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as out:
            out.write(text + "\n\n")


def ensure_database(args) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.db)))


if __name__ == "__main__":
    main()
