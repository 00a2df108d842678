"""A night that survives a crash (licensing/nightly/lock.py and the runner around it): one
live run per day and part, a lock that dies with its process, a dead run recorded as
failed with the counts it saved, and a rerun that starts at once and finishes the rest."""

import email
import email.policy
import os
import signal
import subprocess
import sys
import time as clock
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections

from licensing import nightly, services, tasks
from licensing.choices import LicenseState, RunStatus
from licensing.models import License, LicensePolicy, NightlyRun, Notification
from licensing.nightly import lock, runner
from tests.factories import TODAY, IncidentFactory
from tests.helpers import needs_postgresql
from tests.test_celery_worker import database_url

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent


@contextmanager
def held_by_a_live_run(day, part=""):
    """The lock of `day` and `part` as another live process holds it: on PostgreSQL an
    advisory lock of another session, elsewhere a lease renewed by its thread."""
    name = lock.lock_name(day, part)
    if connection.vendor == "postgresql":
        other = connections.create_connection("default")
        held = lock.AdvisoryLock(name, connection=other)
        try:
            assert held.acquire()
            yield other
        finally:
            held.release()  # a live run ends by releasing its lock
            other.close()
    else:
        lease = lock.Lease(name)
        assert lease.acquire()
        try:
            yield lease
        finally:
            lease.release()


def gone_with_its_session(name):
    """Wait for PostgreSQL to end a closed session (a moment after the client went)."""
    deadline = clock.monotonic() + 10
    while clock.monotonic() < deadline:
        probe = lock.AdvisoryLock(name)
        if probe.acquire():
            probe.release()
            return
        clock.sleep(0.05)
    pytest.fail(f"{name} still held 10 s after its session closed")


def statuses(day, part=""):
    return list(
        NightlyRun.objects.filter(day=day, part=part)
        .order_by("started_at", "pk")
        .values_list("status", flat=True)
    )


def due_licenses(n, partner, licensing_user, *, ends_on):
    """n active DLs of one partner ending on `ends_on` (bulk: the services would refuse a
    second DL for the same partner)."""
    policy = LicensePolicy.objects.get(kind="DL")
    return License.objects.bulk_create(
        License(
            policy=policy,
            partner=partner,
            licensee_name=f"Bulk {i}",
            hosting="shared_cloud",
            state=LicenseState.ACTIVE,
            requested_by=licensing_user,
            requested_on=TODAY,
            starts_on=ends_on - timedelta(days=300),
            ends_on=ends_on,
        )
        for i in range(n)
    )


def killed_halfway(monkeypatch, *, batch=3, at_save=3):
    """Make the run die on its `at_save`-th write, as a killed process does: no `except`
    runs (KeyboardInterrupt is no Exception), the run's row stays "running"."""
    monkeypatch.setattr(nightly.bulk, "BATCH", batch)
    real_save, calls = nightly.Context.save, {"n": 0}

    def dying_save(self, objects, fields, model=License):
        calls["n"] += 1
        if calls["n"] == at_save:
            raise KeyboardInterrupt
        return real_save(self, objects, fields, model)

    monkeypatch.setattr(nightly.Context, "save", dying_save)
    return lambda: monkeypatch.setattr(nightly.Context, "save", real_save)


# --- one live run per day and part -------------------------------------------------------


def test_a_second_run_for_the_same_day_is_skipped_while_the_first_holds_the_lock(partner):
    with held_by_a_live_run(TODAY):
        assert services.run_nightly(today=TODAY) == {"skipped": 1}
    assert statuses(TODAY) == [RunStatus.SKIPPED]
    # Skipping is no death: the live run's day is not touched, and the next run goes ahead.
    assert services.run_nightly(today=TODAY)["expired"] == 0
    assert statuses(TODAY) == [RunStatus.SKIPPED, RunStatus.FINISHED]


def test_each_part_of_a_night_has_its_own_lock(partner):
    with held_by_a_live_run(TODAY, "chunk 2/3"):
        assert nightly.run_nightly(today=TODAY, chunk=(1, 3)) == {"skipped": 1}
        assert "skipped" not in nightly.run_nightly(today=TODAY, chunk=(0, 3))
        assert "skipped" not in nightly.run_global(today=TODAY)
        assert "skipped" not in services.run_nightly(today=TODAY)


@pytest.mark.postgres
def test_the_advisory_lock_of_a_closed_session_blocks_nothing(partner):
    needs_postgresql("advisory locks")
    with held_by_a_live_run(TODAY) as other:
        assert services.run_nightly(today=TODAY) == {"skipped": 1}
        other.close()  # the holder's process died: PostgreSQL ends its session, and its locks
        gone_with_its_session(lock.lock_name(TODAY, ""))
        assert services.run_nightly(today=TODAY)["expired"] == 0
    assert statuses(TODAY) == [RunStatus.SKIPPED, RunStatus.FINISHED]


def test_the_lease_of_a_dead_run_blocks_the_next_for_two_minutes_at_most(
    partner, monkeypatch, time_machine
):
    # The lease is what SQLite (and any database but PostgreSQL) uses; tried here on both.
    monkeypatch.setattr(runner, "run_lock", lambda day, part: lock.Lease(lock.lock_name(day, part)))
    time_machine.move_to(datetime.combine(TODAY, time(2), tzinfo=UTC), tick=False)
    # What a killed run leaves: its lease, which nothing renews any more.
    cache.add(lock.lock_name(TODAY, ""), "a killed run's token", timeout=lock.LEASE_SECONDS)
    assert services.run_nightly(today=TODAY) == {"skipped": 1}
    time_machine.shift(timedelta(seconds=lock.LEASE_SECONDS + 1))
    assert services.run_nightly(today=TODAY)["expired"] == 0
    assert statuses(TODAY) == [RunStatus.SKIPPED, RunStatus.FINISHED]


def test_a_live_lease_is_renewed_while_its_run_works(partner, monkeypatch):
    lease = lock.Lease(lock.lock_name(TODAY, ""), seconds=1)
    assert lease.acquire()
    try:
        clock.sleep(2.5)  # more than twice the lease: only the renewals keep it
        assert lock.Lease(lock.lock_name(TODAY, "")).acquire() is False
        lease.renew()
    finally:
        lease.release()
    assert services.run_nightly(today=TODAY)["expired"] == 0


def test_a_run_whose_lease_changed_hands_stops(partner):
    lease = lock.Lease(lock.lock_name(TODAY, ""))
    assert lease.acquire()
    cache.set(lease.name, "another run's token")  # expired while the process was frozen
    with pytest.raises(lock.LockLost):
        lease.renew()
    lease.release()
    assert cache.get(lease.name) == "another run's token"  # not ours to delete


# --- a dead run is recorded as failed, and the rerun finishes the night ------------------


def test_a_killed_run_is_marked_failed_with_its_counts_and_the_rerun_finishes_the_rest(
    partner, licensing_user, monkeypatch
):
    IncidentFactory(partner=partner)  # not in good standing: every due license expires
    due_licenses(7, partner, licensing_user, ends_on=TODAY - timedelta(days=1))
    revive = killed_halfway(monkeypatch)  # batch 1 (3 licenses) commits, batch 2 dies
    with pytest.raises(KeyboardInterrupt):
        services.run_nightly(today=TODAY)
    dead = NightlyRun.objects.get()
    # The counts were saved with each batch: the row tells what the dead run did.
    assert (dead.status, dead.counts["expired"]) == (RunStatus.RUNNING, 3)

    revive()
    said = []
    counts = services.run_nightly(today=TODAY, progress=said.append)
    assert counts["expired"] == 4  # the rest, at once: the lock died with the run
    dead.refresh_from_db()
    assert (dead.status, dead.error, dead.counts["expired"]) == (
        RunStatus.FAILED,
        nightly.DIED,
        3,
    )
    assert dead.history.latest().history_change_reason == nightly.DIED
    assert statuses(TODAY) == [RunStatus.FAILED, RunStatus.FINISHED]
    assert License.objects.filter(state=LicenseState.EXPIRED).count() == 7
    assert any("marked failed" in line and "expired: 3" in line for line in said), said


def test_a_run_that_raised_is_failed_by_itself_and_not_buried_again(partner, monkeypatch):
    def broken(ctx):
        raise RuntimeError("database went away")

    monkeypatch.setattr(runner, "STEPS", [broken])
    with pytest.raises(RuntimeError):
        services.run_nightly(today=TODAY)
    monkeypatch.undo()
    said = []
    services.run_nightly(today=TODAY, progress=said.append)
    failed = NightlyRun.objects.get(status=RunStatus.FAILED)
    assert "database went away" in failed.error
    assert not any("marked failed" in line for line in said)


def test_the_command_says_when_it_marked_an_earlier_run_dead(partner, licensing_user, monkeypatch):
    IncidentFactory(partner=partner)
    due_licenses(7, partner, licensing_user, ends_on=TODAY - timedelta(days=1))
    revive = killed_halfway(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        call_command("run_nightly", "--date", TODAY.isoformat(), stdout=StringIO())
    revive()
    out = StringIO()
    call_command("run_nightly", "--date", TODAY.isoformat(), stdout=out)
    printed = out.getvalue()
    assert f"an earlier run for {TODAY}" in printed
    assert "died: the process ended without finishing: marked failed" in printed
    assert "expired: 4" in printed  # the summary: what this run did


# --- the fan-out: each chunk its own lock, the global steps once all are done -------------


def test_a_chunk_killed_and_delivered_again_finishes_and_the_global_steps_run_once(
    partner, licensing_user, monkeypatch
):
    IncidentFactory(partner=partner)
    due_licenses(9, partner, licensing_user, ends_on=TODAY - timedelta(days=1))
    day = TODAY.isoformat()
    tasks.run_nightly_chunk(day, 0, 3)
    revive = killed_halfway(monkeypatch, batch=1)  # chunk 2 dies after 1 license
    with pytest.raises(KeyboardInterrupt):
        tasks.run_nightly_chunk(day, 1, 3)
    revive()
    tasks.run_nightly_chunk(day, 2, 3)
    # Chunks 1 and 3 are done, chunk 2 is "running" (dead): no global run yet.
    assert not NightlyRun.objects.filter(part="global").exists()

    tasks.run_nightly_chunk(day, 1, 3)  # the broker delivers the killed task again
    assert statuses(TODAY, "chunk 2/3") == [RunStatus.FAILED, RunStatus.FINISHED]
    assert statuses(TODAY, "global") == [RunStatus.FINISHED]
    chunk_2 = NightlyRun.objects.filter(part="chunk 2/3").order_by("started_at", "pk")
    assert [run.counts["expired"] for run in chunk_2] == [1, 2]
    assert License.objects.filter(state=LicenseState.EXPIRED).count() == 9


def test_a_skipped_chunk_does_not_start_the_global_steps_early(partner):
    day = TODAY.isoformat()
    with held_by_a_live_run(TODAY, "chunk 2/3"):
        for index in range(3):
            tasks.run_nightly_chunk(day, index, 3)
        assert statuses(TODAY, "chunk 2/3") == [RunStatus.SKIPPED]
        assert not NightlyRun.objects.filter(part="global").exists()
    # The live chunk 2 finishes (here: runs again, now that it holds the lock).
    tasks.run_nightly_chunk(day, 1, 3)
    assert statuses(TODAY, "global") == [RunStatus.FINISHED]


# --- a real process, killed mid-delivery ---------------------------------------------------


def mails_in(folder: Path) -> Counter:
    """(recipient, subject) of every message the stalling server received, counted."""
    seen = Counter()
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        seen[(str(message["To"]), str(message["Subject"]))] += 1
    return seen


def run_nightly_process(day, env, log: Path, **extra) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "run_nightly", "--date", day.isoformat()],
        cwd=ROOT,
        env={**env, **extra},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_killed_mid_delivery_sends_every_mail_once_when_run_again(
    partner, licensing_user, tmp_path
):
    needs_postgresql("a subprocess shares the test database")
    ends_on = TODAY + timedelta(days=7)
    due_licenses(15, partner, licensing_user, ends_on=ends_on)
    Notification.objects.all().delete()  # nothing pending but tonight's reminders
    day, expected = TODAY, 30  # the 7-day reminder of 15 licenses to both partner contacts
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.licensing.stalling_mail_settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "STALLING_MAIL_DIR": str(mail_dir),
        "PYTHONUNBUFFERED": "1",
    }

    # 1. The first run stalls on its 9th mail, with 8 sent and marked sent: killed there.
    first_log = tmp_path / "first.log"
    first = run_nightly_process(day, env, first_log, STALLING_MAIL_AFTER="8")
    sent = Notification.objects.filter(sent_at__isnull=False)
    deadline = clock.monotonic() + 60
    while not (len(list(mail_dir.glob("*.eml"))) == 8 and sent.count() == 8):
        if first.poll() is not None or clock.monotonic() > deadline:
            pytest.fail("the run did not stall on its 9th mail:\n" + first_log.read_text())
        clock.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    dead = NightlyRun.objects.get(day=day)
    print(f"\n$ manage.py run_nightly --date {day}  (SIGKILL after 8 mails)")
    print(first_log.read_text(), end="")
    print(f"[row #{dead.pk}: {dead.status}, {dead.counts}]")
    assert dead.status == RunStatus.RUNNING  # what a kill leaves behind
    assert dead.counts["reminders"] == expected  # saved as the run went
    assert sent.count() == 8

    # 2. The rerun: not skipped, not kept waiting; the rest goes out, nothing twice.
    second_log = tmp_path / "second.log"
    started = clock.monotonic()
    second = run_nightly_process(day, env, second_log)
    assert second.wait(timeout=120) == 0, second_log.read_text()
    took = clock.monotonic() - started
    printed = second_log.read_text()
    print(f"$ manage.py run_nightly --date {day}  (rerun, {took:.1f} s)")
    print(printed, end="")

    mails = mails_in(mail_dir)
    assert sum(mails.values()) == expected and set(mails.values()) == {1}, mails
    rows = Notification.objects.filter(kind="reminder")
    assert rows.count() == expected and not rows.filter(sent_at__isnull=True).exists()
    assert set(mails) == set(rows.values_list("recipient", "subject"))
    runs = list(NightlyRun.objects.filter(day=day).order_by("started_at", "pk"))
    for run in runs:
        print(f"[row #{run.pk}: {run.status}, {run.error or 'no error'}, {run.counts}]")
    assert [run.status for run in runs] == [RunStatus.FAILED, RunStatus.FINISHED]
    assert runs[0].error == nightly.DIED
    # Every reminder is in some run's counts; the rerun sent what the dead one had not.
    assert runs[0].counts["reminders"] + runs[1].counts["reminders"] == expected
    assert runs[1].counts["mails_sent"] == expected - 8
    assert "skipped" not in printed and "marked failed" in printed
    assert took < 60
