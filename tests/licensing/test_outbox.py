"""The outbox: mail written in the change's transaction, sent once, never lost."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing import outbox, services
from licensing.choices import NotificationKind
from licensing.models import Notification
from tests import mail_backends

FLAKY = "tests.mail_backends.FlakyBackend"


@pytest.fixture
def server(settings):
    """The mail server the test controls: up, down, or refusing some addresses."""
    settings.EMAIL_BACKEND = FLAKY
    mail_backends.STATE.update(down=False, refused=set())
    yield mail_backends.STATE
    mail_backends.STATE.update(down=False, refused=set())


def write(n: int, prefix: str = "row") -> list[Notification]:
    return Notification.objects.bulk_create(
        Notification(
            kind=NotificationKind.OVERDUE_ALERT,
            recipient=f"{prefix}{i}@desk.example.com",
            template="overdue_alert",
            params={"license_ids": [], "day": "2026-11-28"},
            key=f"test:{prefix}:{i}",
        )
        for i in range(n)
    )


def state(row: Notification) -> Notification:
    row.refresh_from_db()
    return row


def test_provisioning_writes_the_onboarding_mail_in_its_transaction(partner, provisioned, release):
    lic = provisioned(partner)  # no commit callbacks run: nothing sent yet
    rows = Notification.objects.filter(license=lic, kind=NotificationKind.ONBOARDING)
    assert rows.count() == 2 and not rows.filter(sent_at__isnull=False).exists()
    assert mail.outbox == []

    services.deliver_notifications()
    recipients = set(rows.values_list("recipient", flat=True))
    assert recipients == set(partner.contacts.values_list("email", flat=True))
    assert recipients <= {m.to[0] for m in mail.outbox}
    sent = len(mail.outbox)  # the onboarding mails, and the requester's "approved"
    assert services.deliver_notifications() == 0  # sent once
    assert len(mail.outbox) == sent


def test_a_server_that_is_down_loses_nothing_and_sends_nothing_twice(db, server):
    rows = write(3)
    server["down"] = True

    assert services.deliver_notifications() == 0
    for row in rows:
        row = state(row)
        assert (row.attempts, row.sent_at, row.failed_at) == (1, None, None)
        assert "SMTPServerDisconnected" in row.last_error
        assert row.next_attempt_at > timezone.now()  # backed off, not retried at once
    assert services.deliver_notifications() == 0  # not due yet: no second attempt

    server["down"] = False
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.deliver_notifications() == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.recipient for r in rows)
    assert services.deliver_notifications() == 0
    assert len(mail.outbox) == 3


def test_a_recipient_refused_for_good_fails_alone_and_the_others_are_sent(db, server):
    rows = write(3)
    server["refused"] = {rows[1].recipient}

    assert services.deliver_notifications() == 2

    refused = state(rows[1])
    assert refused.failed_at is not None and refused.sent_at is None
    assert refused.attempts == 1  # a 5xx is not retried
    assert "SMTPRecipientsRefused" in refused.last_error
    assert {m.to[0] for m in mail.outbox} == {rows[0].recipient, rows[2].recipient}


def test_the_eighth_failed_attempt_marks_the_mail_failed(db, server):
    (row,) = write(1)
    server["down"] = True
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        Notification.objects.filter(pk=row.pk).update(next_attempt_at=None)
        services.deliver_notifications()
        row = state(row)
        assert row.attempts == attempt
        assert (row.failed_at is not None) is (attempt == outbox.MAX_ATTEMPTS)
    assert outbox.pending().count() == 0


def test_a_template_error_is_permanent(db, server):
    (row,) = write(1)
    Notification.objects.filter(pk=row.pk).update(template="no_such_mail")
    assert services.deliver_notifications() == 0
    row = state(row)
    assert row.failed_at is not None and "TemplateDoesNotExist" in row.last_error


def test_send_again_puts_a_failed_mail_back_and_it_goes(client, db, server, licensing_user):
    (row,) = write(1)
    server["refused"] = {row.recipient}
    services.deliver_notifications()
    assert state(row).failed_at is not None
    server["refused"] = set()
    client.force_login(licensing_user)

    failed = client.get("/admin/licensing/notification/?delivery=failed").content.decode()
    assert row.recipient in failed
    response = client.post(
        "/admin/licensing/notification/",
        {"action": "send_again", "_selected_action": [row.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert state(row).failed_at is None and state(row).attempts == 0
    assert row.history.latest().history_change_reason == "sent again"
    assert services.deliver_notifications() == 1
    assert state(row).sent_at is not None


def test_only_the_licensing_team_may_send_again(client, db, server, auditor):
    (row,) = write(1)
    server["refused"] = {row.recipient}
    services.deliver_notifications()
    client.force_login(auditor)
    page = client.get("/admin/licensing/notification/").content.decode()
    assert "send_again" not in page
    client.post(
        "/admin/licensing/notification/", {"action": "send_again", "_selected_action": [row.pk]}
    )
    assert state(row).failed_at is not None


def test_a_change_of_state_stands_when_the_broker_is_down(
    partner, provisioned, release, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from licensing import delivery

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(delivery.deliver_pending, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        lic = provisioned(partner)
    lic.refresh_from_db()
    assert lic.state == "active"
    # The rows wait in the outbox for the beat's next delivery.
    assert outbox.pending().filter(license=lic, kind=NotificationKind.ONBOARDING).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_share_the_outbox_and_never_send_a_row_twice(require_postgres):
    rows = write(1000)
    sent = []

    def worker():
        try:
            sent.append(services.deliver_notifications())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(sent) == 1000
    assert len(mail.outbox) == 1000
    assert len({m.to[0] for m in mail.outbox}) == 1000  # each row once
    assert not outbox.pending().exists()
    assert Notification.objects.filter(pk__in=[r.pk for r in rows], attempts=1).count() == 1000


def test_the_queries_per_mail_do_not_grow_with_the_outbox(db):
    def queries_to_deliver(n: int) -> int:
        write(n, prefix=f"size{n}-")
        with CaptureQueriesContext(connection) as captured:
            assert services.deliver_notifications() == n
        return len(captured)

    small, large = queries_to_deliver(5), queries_to_deliver(50)
    per_mail = (large - small) / 45
    # Take the row, mark it, its history row, and the (save)point around them: the same
    # for the 5th mail as for the 50th.
    assert per_mail == int(per_mail) <= 5


def test_the_dashboard_shows_the_licensing_team_failed_and_long_pending_mail(
    client, db, server, licensing_user, channel_manager
):
    failed, waiting = write(2)
    server["refused"] = {failed.recipient}
    server["down"] = False
    Notification.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(hours=2),
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    services.deliver_notifications()
    client.force_login(licensing_user)

    page = client.get("/admin/").content.decode()

    assert "Mail not delivered" in page
    assert "/admin/licensing/notification/?delivery=failed" in page
    listed = client.get("/admin/licensing/notification/?delivery=failed").content.decode()
    assert failed.recipient in listed and waiting.recipient not in listed
    client.force_login(channel_manager)
    assert "Mail not delivered" not in client.get("/admin/").content.decode()
