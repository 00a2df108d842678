"""The nightly run split into chunk tasks, on 1 and on 2 Celery worker processes (Redis).

For each worker count, a fresh copy of the source database (CREATE DATABASE ... TEMPLATE,
so every run starts from the same licenses due) gets a worker with that many processes;
the nightly task is dispatched with NIGHTLY_CHUNKS chunks, and the time from dispatch to
the end of the last part (the global steps) is measured from the NightlyRun rows.

    .venv/bin/python benchmarks/fanout.py --source-db bench_medium --day 2027-01-10 \\
        [--chunks 4] [--processes 1 2]

Prints one line per worker count and the ratio. Loopback only; the copies are dropped.
`benchmarks/run.py` calls `measure` for the fan-out rows of its table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
BROKER = "redis://127.0.0.1:6379/9"
CACHE = "rediscache://127.0.0.1:6379/10"


def psql(sql: str) -> str:
    out = subprocess.run(  # noqa: S603 - fixed arguments
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", sql],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def env_for(db: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"{PG}/{db}",
        "CELERY_BROKER_URL": BROKER,
        "CACHE_URL": CACHE,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
    }


def django_call(db: str, code: str) -> str:
    out = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=env_for(db),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def measure(source: str, day: str, chunks: int, processes: int) -> tuple[float, str]:
    db = f"fanout_{processes}"
    psql(f"DROP DATABASE IF EXISTS {db}")
    psql(f"CREATE DATABASE {db} TEMPLATE {source}")
    subprocess.run(["redis-cli", "-n", "9", "flushdb"], check=True, capture_output=True)  # noqa: S607
    subprocess.run(["redis-cli", "-n", "10", "flushdb"], check=True, capture_output=True)  # noqa: S607
    worker = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency",
            str(processes),
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env_for(db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(4)  # the worker connects to Redis
        django_call(db, f"from licensing import tasks; tasks.run_nightly.delay('{day}', {chunks})")
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            done = django_call(
                db,
                "from licensing.models import NightlyRun\n"
                f"print(NightlyRun.objects.filter(day='{day}', part='global', status='finished')"
                ".exists())",
            )
            if done == "True":
                break
            time.sleep(1)
        summary = django_call(
            db,
            "from django.db.models import Max, Min\nfrom licensing.models import NightlyRun\n"
            f"runs = NightlyRun.objects.filter(day='{day}')\n"
            "span = runs.aggregate(a=Min('started_at'), b=Max('finished_at'))\n"
            "total = {}\n"
            "for r in runs:\n"
            "    for k, v in r.counts.items(): total[k] = total.get(k, 0) + v\n"
            "print((span['b'] - span['a']).total_seconds(), "
            "{k: v for k, v in total.items() if v})",
        )
        seconds, counts = summary.split(" ", 1)
        return float(seconds), counts
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        psql(f"DROP DATABASE IF EXISTS {db}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-db", required=True)
    parser.add_argument("--day", required=True, help="the night to run, YYYY-MM-DD")
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    results = {}
    for processes in args.processes:
        seconds, counts = measure(args.source_db, args.day, args.chunks, processes)
        results[processes] = seconds
        print(f"{processes} worker process(es), {args.chunks} chunks: {seconds:7.2f} s  {counts}")
    if len(results) == 2:
        one, two = (results[p] for p in sorted(results))
        print(f"ratio {sorted(results)[1]} / {sorted(results)[0]} processes: {two / one:.2f}")


if __name__ == "__main__":
    main()
