"""Outbox benchmark: deliver N pending mails (default 10,000) on PostgreSQL, locmem backend.

Prints, for the outbox's `deliver_notifications` in one and in two worker processes, the
time, mails per second and queries per mail, beside a plain loop that only renders and
sends the same mails (no row taken, marked or logged). Each measurement starts from the
same N pending rows in its own database `bench_mail` (created on first use).

    .venv/bin/python benchmarks/delivery.py [--mails 10000] [--pg postgres://...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_mail"


def env_for(pg: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"{pg}/{DATABASE}",
        DEBUG="false",
        EMAIL_URL="memorymail://",
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER="false",
        CACHE_URL="locmemcache://",
        LOG_LEVEL="WARNING",
    )
    return env


def child(part: str, mails: int) -> None:
    """Runs inside a child process with Django set up on the benchmark database."""
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core import mail
    from django.core.mail import EmailMultiAlternatives
    from django.db import connection

    from licensing import outbox
    from licensing.models import Notification
    from licensing.notifications import context_for, render_mail

    mail.outbox = []  # the locmem backend's list, as in tests
    if part == "setup":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        Notification.objects.all().delete()
        Notification.objects.bulk_create(
            (
                Notification(
                    kind="overdue_alert",
                    recipient=f"team{i}@desk.example.com",
                    template="overdue_alert",
                    params={"license_ids": [], "day": "2026-12-01"},
                    key=f"bench:{i}",
                )
                for i in range(mails)
            ),
            batch_size=2000,
        )
        return
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        if part == "plain":
            for notification in Notification.objects.order_by("pk").iterator(chunk_size=2000):
                subject, text, html = render_mail(notification.template, context_for(notification))
                message = EmailMultiAlternatives(subject, text, "x@desk.example.com", ["a@b.c"])
                message.attach_alternative(html, "text/html")
                message.send()
            sent = len(mail.outbox)
        else:
            sent = outbox.deliver_notifications()
    took = time.perf_counter() - started
    print(json.dumps({"sent": sent, "seconds": took, "queries": queries[0]}))


def run(pg: str, part: str, mails: int, processes: int = 1) -> list[dict]:
    command = [sys.executable, __file__, "--child", part, "--mails", str(mails)]
    children = [
        subprocess.Popen(command, cwd=ROOT, env=env_for(pg), stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(processes)
    ]
    results = []
    for process in children:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"{part} failed")
        results.append(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})
    return results


def ensure_database(pg: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--child", choices=["setup", "plain", "outbox"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mails)
        return
    ensure_database(args.pg)
    rows = []
    for label, part, processes in (
        ("plain loop: render and send only", "plain", 1),
        ("outbox, 1 worker process", "outbox", 1),
        ("outbox, 2 worker processes", "outbox", 2),
    ):
        print(f"… {label}", file=sys.stderr, flush=True)
        run(args.pg, "setup", args.mails)
        results = run(args.pg, part, args.mails, processes)
        # The slowest worker's own time: process start-up left out.
        wall = max(r["seconds"] for r in results)
        sent = sum(r["sent"] for r in results)
        queries = sum(r["queries"] for r in results)
        rows.append((label, sent, wall, queries))
    print(f"{'what':38} {'sent':>7} {'time':>10} {'mails/s':>8} {'queries/mail':>13}")
    for label, sent, wall, queries in rows:
        per = queries / sent if sent else 0
        print(f"{label:38} {sent:>7,} {wall:>9.1f}s {sent / wall:>8,.0f} {per:>13.2f}")


if __name__ == "__main__":
    main()
