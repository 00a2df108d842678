"""The lifecycle mails (SPEC "Every event reaches the people who act on it"): who is told,
what the mail says, and that a replay of the event tells nobody twice."""

from datetime import timedelta

import pytest
from django.core import mail

from licensing import mails, services
from licensing.choices import NotificationKind
from licensing.models import Notification
from tests.factories import TODAY
from tests.helpers import refused

pytestmark = pytest.mark.django_db

GRACE = timedelta(days=30)  # the seeded policies' grace period


def rows(kind) -> list[Notification]:
    return list(Notification.objects.filter(kind=kind).order_by("recipient"))


def recipients(kind) -> set[str]:
    return {row.recipient for row in rows(kind)}


def sent(subject_part: str) -> list:
    """The mails delivered (mail.outbox) whose subject holds `subject_part`."""
    return [message for message in mail.outbox if subject_part in message.subject]


def contacts(partner) -> list[str]:
    return list(partner.contacts.order_by("role").values_list("email", flat=True))


def technical(partner) -> str:
    return partner.contacts.get(role="technical").email


@pytest.fixture
def followed(partner, channel_manager):
    """`partner` with its channel manager set: the expiry mails' third recipient."""
    partner.channel_manager = channel_manager
    partner.save()
    return partner


# --- The request -------------------------------------------------------------------------


def test_an_approval_tells_the_requester_once_with_the_provisioning_deadline(
    partner, provisioned, channel_manager, licensing_user, django_capture_on_commit_callbacks
):
    lic = provisioned(partner, state="requested")

    with django_capture_on_commit_callbacks(execute=True):
        lic = services.approve(lic, by=licensing_user, on=TODAY)

    (row,) = rows(NotificationKind.REQUEST_APPROVED)
    assert row.key == f"request_approved:{lic.pk}:{TODAY}:{channel_manager.email}"
    (message,) = sent("request approved")
    assert message.to == [channel_manager.email]
    assert message.subject == "Demo License request approved: Lisbon Low-Code Lda"
    assert f"was approved on {TODAY}" in message.body
    assert f"provisions it by {lic.provisioning_due_on}" in message.body
    # The same approval again is refused, and tells nobody again.
    refused(lambda: services.approve(lic, by=licensing_user, on=TODAY), "only a requested")
    assert len(rows(NotificationKind.REQUEST_APPROVED)) == 1


def test_a_refusal_tells_the_requester_with_the_reason(
    partner, provisioned, channel_manager, licensing_user, django_capture_on_commit_callbacks
):
    lic = provisioned(partner, state="requested")

    with django_capture_on_commit_callbacks(execute=True):
        services.refuse(lic, by=licensing_user, reason="The partner's fee is unpaid", on=TODAY)

    assert recipients(NotificationKind.REQUEST_REFUSED) == {channel_manager.email}
    (message,) = sent("request refused")
    assert f"was refused on {TODAY}" in message.body
    assert "Reason: The partner's fee is unpaid" in message.body  # plain text: no &#x27;
    assert "The partner&#x27;s fee is unpaid" in message.alternatives[0][0]
    refused(
        lambda: services.refuse(lic, by=licensing_user, reason="again", on=TODAY),
        "only a requested",
    )
    assert len(rows(NotificationKind.REQUEST_REFUSED)) == 1


# --- Cancelled by hand -------------------------------------------------------------------


def test_a_cancellation_tells_both_contacts_and_the_channel_manager_with_the_reason(
    followed,
    provisioned,
    release,
    channel_manager,
    licensing_user,
    django_capture_on_commit_callbacks,
):
    lic = provisioned(followed)
    day = TODAY + timedelta(days=5)

    with django_capture_on_commit_callbacks(execute=True):
        services.cancel(lic, by=licensing_user, reason="Resold to a customer", on=day)

    assert [row.recipient for row in rows(NotificationKind.CANCELLED)] == sorted(
        [*contacts(followed), channel_manager.email]
    )
    told = [*contacts(followed), channel_manager.email]
    assert {row.key for row in rows(NotificationKind.CANCELLED)} == {
        f"cancelled:{lic.pk}:{day}:{email}" for email in told
    }
    messages = sent("cancelled on")
    assert len(messages) == 3
    assert messages[0].subject == f"Demo License {lic} cancelled on {day}"
    assert "Reason: Resold to a customer" in messages[0].body
    assert "applications are taken offline" in messages[0].body
    refused(
        lambda: services.cancel(lic, by=licensing_user, reason="again", on=day), "only a requested"
    )
    assert len(rows(NotificationKind.CANCELLED)) == 3


def test_a_cancelled_trial_tells_its_architect_and_the_technical_contact(
    trial, partner, architect, licensing_user
):
    services.cancel(trial, by=licensing_user, reason="The prospect walked away", on=TODAY)

    assert recipients(NotificationKind.CANCELLED) == {architect.email, technical(partner)}


# --- Extensions --------------------------------------------------------------------------


def ask(lic, by, **kwargs):
    kwargs.setdefault("reason", "legal_constraints")
    kwargs.setdefault("requested_until", lic.ends_on + timedelta(days=60))
    kwargs.setdefault("on", lic.expired_on)
    return services.request_extension(lic, by=by, **kwargs)


def test_a_granted_extension_tells_the_requester_and_both_contacts_the_new_end(
    expired, partner, channel_manager, licensing_user, django_capture_on_commit_callbacks
):
    ext = ask(expired, channel_manager)

    with django_capture_on_commit_callbacks(execute=True):
        services.grant_extension(ext, by=licensing_user, on=expired.expired_on)

    assert [row.recipient for row in rows(NotificationKind.EXTENSION_GRANTED)] == sorted(
        [channel_manager.email, *contacts(partner)]
    )
    assert all(
        row.key == f"extension_granted:{expired.pk}:{ext.pk}:{row.recipient}"
        for row in rows(NotificationKind.EXTENSION_GRANTED)
    )
    messages = sent("Extension granted")
    assert len(messages) == 3
    assert f"runs to {ext.requested_until}" in messages[0].subject
    assert f"active to {ext.requested_until}, its last valid day" in messages[0].body
    assert "Reason: Legal constraints delayed the renewal" in messages[0].body
    assert "new license file" not in messages[0].body  # a cloud license has none
    assert not rows(NotificationKind.ACTIVE_AGAIN)  # nor an active-again mail
    refused(
        lambda: services.grant_extension(ext, by=licensing_user, on=expired.expired_on),
        "only a requested one",
    )
    assert len(rows(NotificationKind.EXTENSION_GRANTED)) == 3


def test_an_on_premises_license_extended_gets_its_new_file_from_the_portal(
    partner, provisioned, channel_manager, licensing_user, settings
):
    settings.SITE_URL = "https://desk.example.com"
    lic = provisioned(partner, hosting="on_premises")
    services.run_nightly(today=lic.ends_on + timedelta(days=1))
    lic.refresh_from_db()
    ext = ask(lic, channel_manager)

    services.grant_extension(ext, by=licensing_user, on=lic.expired_on)
    services.deliver_notifications()

    (row,) = rows(NotificationKind.ACTIVE_AGAIN)
    assert row.recipient == technical(partner)
    assert row.key == f"active_again:{lic.pk}:{ext.requested_until}:{technical(partner)}"
    (message,) = sent("New license file")
    assert message.subject == f"New license file: Demo License {lic} runs to {ext.requested_until}"
    assert f"was extended\nto {ext.requested_until}, its last valid day" in message.body
    assert "https://desk.example.com/portal/" in message.body
    assert 'href="https://desk.example.com/portal/"' in message.alternatives[0][0]


def test_a_refused_extension_tells_whoever_asked_with_the_reason(
    expired, channel_manager, licensing_user
):
    ext = ask(expired, channel_manager)

    services.refuse_extension(
        ext, by=licensing_user, reason="No open sales cycle", on=expired.expired_on
    )
    services.deliver_notifications()

    (row,) = rows(NotificationKind.EXTENSION_REFUSED)
    assert row.key == f"extension_refused:{expired.pk}:{ext.pk}:{channel_manager.email}"
    (message,) = sent("Extension refused")
    assert f"to {ext.requested_until} was refused" in message.body
    assert "Reason: No open sales cycle" in message.body
    refused(
        lambda: services.refuse_extension(
            ext, by=licensing_user, reason="again", on=expired.expired_on
        ),
        "only a requested one",
    )
    assert len(rows(NotificationKind.EXTENSION_REFUSED)) == 1


def test_a_trial_extended_by_its_architect_tells_him_and_both_contacts(trial, partner, architect):
    until = trial.ends_on + timedelta(days=20)
    services.request_extension(
        trial,
        by=architect,
        reason="trial_sales_cycle",
        requested_until=until,
        evaluation="The prospect's board decides next month.",
        on=TODAY,
    )

    assert recipients(NotificationKind.EXTENSION_GRANTED) == {architect.email, *contacts(partner)}
    assert {row.params["ends_on"] for row in rows(NotificationKind.EXTENSION_GRANTED)} == {
        until.isoformat()
    }
    assert not rows(NotificationKind.ACTIVE_AGAIN)  # a cloud trial: no license file


# --- Keys --------------------------------------------------------------------------------


def test_a_key_names_kind_license_event_and_recipient_and_always_fits_its_column():
    assert mails.key("expired", 7, "2027-01-01", "Ana@X.com") == "expired:7:2027-01-01:ana@x.com"
    long_address = "a" * 190 + "@partner.example.com"
    key = mails.key("extension_granted", 1234567, "7654321", long_address)
    assert len(key) <= mails.KEY_LENGTH
    assert key.startswith("extension_granted:1234567:7654321:sha256-")
    assert key != mails.key("extension_granted", 1234567, "7654321", "b" + long_address)
