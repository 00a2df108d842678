"""Onboarding mail: who gets it, what it says, and that it leaves once, after commit."""

import logging

import pytest
from django.core import mail
from django.db import transaction

from licensing import notifications, services, tasks
from licensing.models import Notification
from tests.factories import TODAY, partner_ready_for_licenses
from tests.helpers import refused

pytestmark = pytest.mark.django_db


def onboarding_mails(partner) -> list:
    """The mails sent to the partner's contacts: the onboarding ones here (the requester's
    approval mail leaves in the same commit)."""
    contacts = set(partner.contacts.values_list("email", flat=True))
    return [message for message in mail.outbox if set(message.to) <= contacts]


def test_cloud_onboarding_mail_goes_to_both_contacts_with_endpoints_and_code(
    partner, provisioned, release, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lic = provisioned(partner)
    assert sorted(m.to[0] for m in onboarding_mails(partner)) == sorted(
        partner.contacts.values_list("email", flat=True)
    )
    development = lic.infrastructure.environments.get(name="Development").endpoint_url
    for message in onboarding_mails(partner):
        html = message.alternatives[0][0]
        for body in (message.body, html):
            assert development in body
            assert lic.infrastructure.lifetime_url in body
            assert lic.activation_code in body
            assert "/portal/" not in body
    sent = Notification.objects.filter(license=lic, sent_at__isnull=False)
    assert sent.filter(kind="onboarding").count() == 2


def test_on_premises_onboarding_mail_has_the_code_and_the_portal_link(
    partner, provisioned, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://desk.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        lic = provisioned(partner, hosting="on_premises")
    assert len(onboarding_mails(partner)) == 2
    for message in onboarding_mails(partner):
        assert lic.activation_code in message.body
        assert "https://desk.example.com/portal/" in message.body
        assert "LifeTime console" not in message.body
        assert message.subject.startswith("Register your infrastructure")


def test_no_mail_when_the_provisioning_transaction_rolls_back(
    partner, provisioned, licensing_user, release, django_capture_on_commit_callbacks
):
    lic = provisioned(partner, state="approved")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.provision(lic, by=licensing_user, on=TODAY)
            raise RuntimeError("something later in the same request failed")
    assert callbacks == [] and mail.outbox == []
    lic.refresh_from_db()
    assert lic.state == "approved"


def test_running_the_mail_task_again_sends_nothing_twice(
    partner, provisioned, release, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lic = provisioned(partner)
    assert tasks.send_onboarding_mail(lic.pk) == 0
    assert tasks.send_onboarding_mail(lic.pk) == 0
    assert len(onboarding_mails(partner)) == 2


def test_activation_code_never_reaches_the_logs(
    partner, provisioned, release, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        lic = provisioned(partner)
    assert mail.outbox  # mails were sent, and logged by their key
    assert lic.activation_code not in caplog.text


def test_plain_text_and_subject_keep_a_name_as_written_and_the_html_escapes_it(
    region, provisioned, release, django_capture_on_commit_callbacks
):
    partner = partner_ready_for_licenses(region=region, name="O'Brien & Sons")
    partner.contacts.update(name="Dara O'Brien & Sons")
    with django_capture_on_commit_callbacks(execute=True):
        provisioned(partner)

    assert len(onboarding_mails(partner)) == 2
    for message in onboarding_mails(partner):
        html = message.alternatives[0][0]
        assert "O'Brien & Sons" in message.subject
        assert "Hello Dara O'Brien & Sons," in message.body
        assert "for O'Brien & Sons (O'Brien & Sons)" in message.body
        # Escaping is for HTML only: a text mail showing O&#x27;Brien was the bug.
        assert "&#x27;" not in message.subject + message.body
        assert "&amp;" not in message.subject + message.body
        assert "Hello Dara O&#x27;Brien &amp; Sons," in html
        assert "O'Brien" not in html


@pytest.mark.parametrize("recipient", ["a@x.com\nBcc: b@y.com", "a@x.com\r\n", "a@x.com\u2028"])
def test_a_recipient_with_a_line_break_is_refused_and_nothing_is_queued(recipient):
    def queue():
        notifications.queue(
            key="test:1", kind="onboarding", recipient=recipient, template="onboarding_cloud"
        )

    def queue_many():
        good = Notification(key="test:2", kind="onboarding", recipient="ok@x.com", template="t")
        bad = Notification(key="test:3", kind="onboarding", recipient=recipient, template="t")
        notifications.queue_many([good, bad])

    refused(queue, "must be on one line")
    assert not Notification.objects.exists()
    # In a batch (the nightly run's), the bad row is left out and the others go on.
    queue_many()
    assert list(Notification.objects.values_list("recipient", flat=True)) == ["ok@x.com"]
