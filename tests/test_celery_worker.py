"""A real Celery worker on the real Redis broker delivers the onboarding mail.

Eager mode proves nothing about serialization, the broker or the worker's own database
connection: this test starts `celery worker` as a separate process against the test
database (PostgreSQL) and Redis, provisions a license, and waits for the mails.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from licensing.models import Notification
from tests.factories import provision_license

ROOT = Path(__file__).resolve().parent.parent
BROKER = settings.CELERY_BROKER_URL  # the test settings' own Redis database


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def needs_services():
    # CI sets REQUIRE_SERVICES=1: there a missing service fails the run instead of skipping.
    problem = None
    if connection.vendor != "postgresql":
        problem = "needs PostgreSQL, shared between the test and the worker process"
    elif not redis_answers():
        problem = "needs Redis on 127.0.0.1:6379"
    if problem and os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)


def database_url(db: dict) -> str:
    """The URL of the test database, for the worker process to use the same one."""
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    needs_services()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_URL": f"filemail:///{mail_dir}",
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    celery_app.control.purge()  # nothing left over from an interrupted run
    celery_app.conf.task_always_eager = False
    try:
        yield mail_dir, tmp_path / "worker.log"
    finally:
        celery_app.conf.task_always_eager = True
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_on_redis_sends_the_onboarding_mail_once(
    worker, partner, channel_manager, licensing_user, release
):
    mail_dir, log_path = worker
    # Provisioning commits: the task is published.
    lic = provision_license(partner, requested_by=channel_manager, licensing_user=licensing_user)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # The onboarding mails (the requester's approval mail goes out on its own).
        onboarding = Notification.objects.filter(license=lic, kind="onboarding")
        if onboarding.filter(sent_at__isnull=False).count() == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the worker did not send the mails in 60 s:\n" + log_path.read_text()[-3000:])

    mails = "".join(path.read_text() for path in mail_dir.iterdir())
    for email in partner.contacts.values_list("email", flat=True):
        assert f"To: {email}" in mails
    assert lic.activation_code in mails  # the code travels in the mail, as the partner needs
    assert "succeeded" in log_path.read_text()
    # The worker never logs the code it mailed.
    assert lic.activation_code not in log_path.read_text()


def wait_for(condition, log_path, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen in {seconds} s:\n" + log_path.read_text()[-3000:])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_runs_the_nightly_task_and_delivers_its_mails(
    worker, partner, channel_manager, licensing_user, release
):
    from datetime import timedelta

    from licensing import tasks
    from licensing.models import License, NightlyRun

    mail_dir, log_path = worker
    lic = provision_license(partner, requested_by=channel_manager, licensing_user=licensing_user)
    late = provision_license(
        partner,
        hosting="on_premises",
        requested_by=channel_manager,
        licensing_user=licensing_user,
        state="approved",
    )
    lic.refresh_from_db()
    day = lic.ends_on - timedelta(days=7)  # the 7-day reminder; `late` is long overdue by then

    tasks.run_nightly.delay(day.isoformat())

    wait_for(
        lambda: NightlyRun.objects.filter(day=day, status="finished").exists(),
        log_path,
        "the nightly run",
    )
    run = NightlyRun.objects.get(day=day)
    assert (run.counts["reminders"], run.counts["overdue_flagged"]) == (2, 1)
    assert License.objects.get(pk=late.pk).provisioning_overdue_since is not None
    # The run queued its mails after commit; the same worker delivered them.
    wait_for(
        lambda: not Notification.objects.filter(sent_at__isnull=True).exists(),
        log_path,
        "the delivery of every mail",
    )
    mails = "".join(path.read_text() for path in mail_dir.iterdir())
    assert mails.count(f"ends on {lic.ends_on:%Y-%m-%d}") >= 2
    assert "Provisioning overdue" in mails
