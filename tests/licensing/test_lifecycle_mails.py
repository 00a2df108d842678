"""The lifecycle mails (SPEC "Every event reaches the people who act on it"): who is told,
what the mail says, and that a replay of the event tells nobody twice."""

from datetime import timedelta
from html import unescape

import pytest
from django.core import mail

from licensing import mails, previews, services
from licensing.choices import NotificationKind
from licensing.models import Notification
from tests.factories import TODAY, TermFactory
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
    refused(lambda: services.approve(lic, by=licensing_user, on=TODAY), "only when requested")
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
        "only when requested",
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
        lambda: services.cancel(lic, by=licensing_user, reason="again", on=day),
        "only when requested",
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


def test_a_request_ended_by_a_cancellation_by_hand_tells_whoever_asked(
    expired, channel_manager, licensing_user
):
    waiting = ask(expired, channel_manager)
    on = expired.expired_on + timedelta(days=3)

    services.cancel(expired, by=licensing_user, reason="Partner left the program", on=on)
    services.deliver_notifications()

    (row,) = rows(NotificationKind.EXTENSION_REFUSED)
    assert row.key == f"extension_refused:{expired.pk}:{waiting.pk}:{channel_manager.email}"
    (message,) = sent("Extension refused")
    assert f"to {waiting.requested_until} was refused" in message.body
    assert "Reason: license cancelled" in message.body


# --- Keys --------------------------------------------------------------------------------


def test_a_key_names_kind_license_event_and_recipient_and_always_fits_its_column():
    assert mails.key("expired", 7, "2027-01-01", "Ana@X.com") == "expired:7:2027-01-01:ana@x.com"
    long_address = "a" * 190 + "@partner.example.com"
    key = mails.key("extension_granted", 1234567, "7654321", long_address)
    assert len(key) <= mails.KEY_LENGTH
    assert key.startswith("extension_granted:1234567:7654321:sha256-")
    assert key != mails.key("extension_granted", 1234567, "7654321", "b" + long_address)


# --- The night ---------------------------------------------------------------------------


def run(day):
    return services.run_nightly(today=day)


def next_term(partner, after, **kwargs):
    start = after + timedelta(days=1)
    return TermFactory(
        partner=partner, starts_on=start, ends_on=start + timedelta(days=364), **kwargs
    )


def test_the_night_a_license_expires_tells_both_contacts_and_the_channel_manager_once(
    followed, provisioned, release, channel_manager
):
    lic = provisioned(followed)
    expired_on = lic.ends_on + timedelta(days=1)
    told = [*contacts(followed), channel_manager.email]

    counts = run(expired_on)  # no term after the current one: it expires

    assert counts["lifecycle_mails"] == 3
    assert {row.key for row in rows(NotificationKind.EXPIRED)} == {
        f"expired:{lic.pk}:{expired_on}:{email}" for email in told
    }
    messages = sent("no publishing")
    assert sorted(m.to[0] for m in messages) == sorted(told)  # the night delivered them
    message = messages[0]
    assert message.subject == f"Demo License {lic} expired on {expired_on}: no publishing"
    assert f"expired on\n{expired_on}: from that day no application is published" in message.body
    assert f"it is cancelled on {expired_on + GRACE}" in message.body
    assert f"Reason: no partnership term covers {expired_on}" in message.body
    assert "Extension Policy" in message.body
    # The same night again: the license is no longer due, and nobody is told twice.
    mail.outbox.clear()
    assert run(expired_on)["lifecycle_mails"] == 0
    assert len(rows(NotificationKind.EXPIRED)) == 3 and not sent("no publishing")


def test_an_expired_trial_tells_its_architect_and_the_technical_contact(trial, partner, architect):
    expired_on = trial.ends_on + timedelta(days=1)

    run(expired_on)

    assert recipients(NotificationKind.EXPIRED) == {architect.email, technical(partner)}
    (row, _) = rows(NotificationKind.EXPIRED)
    assert row.params == {
        "expired_on": expired_on.isoformat(),
        "cancels_on": (expired_on + GRACE).isoformat(),
        "reason": "end of the trial",
    }
    assert "may still extend the trial" in sent("no publishing")[0].body


def test_a_license_expiring_again_on_another_day_is_told_again(
    followed, provisioned, release, channel_manager, licensing_user
):
    lic = provisioned(followed)
    run(lic.ends_on + timedelta(days=1))
    lic.refresh_from_db()
    ext = ask(lic, channel_manager)
    services.grant_extension(ext, by=licensing_user, on=lic.expired_on)

    run(ext.requested_until + timedelta(days=1))  # the extension ran out: a second expiry

    days = {row.params["expired_on"] for row in rows(NotificationKind.EXPIRED)}
    assert days == {
        lic.expired_on.isoformat(),
        (ext.requested_until + timedelta(days=1)).isoformat(),
    }
    assert len(rows(NotificationKind.EXPIRED)) == 6


def test_the_night_that_cancels_after_grace_tells_the_same_people_why_once(
    followed, provisioned, release, channel_manager
):
    lic = provisioned(followed)
    expired_on = lic.ends_on + timedelta(days=1)
    run(expired_on)
    cancelled_on = expired_on + GRACE

    assert not rows(NotificationKind.CANCELLED)
    run(cancelled_on)

    assert {row.key for row in rows(NotificationKind.CANCELLED)} == {
        f"cancelled:{lic.pk}:{cancelled_on}:{email}"
        for email in [*contacts(followed), channel_manager.email]
    }
    message = sent("cancelled on")[0]
    assert message.subject == f"Demo License {lic} cancelled on {cancelled_on}"
    assert "Reason: grace period of 30 days over" in message.body
    assert "applications are taken offline" in message.body
    run(cancelled_on)
    run(cancelled_on + timedelta(days=1))
    assert len(rows(NotificationKind.CANCELLED)) == 3


def test_the_night_that_cancels_a_license_tells_whoever_asked_for_its_extension(
    expired, channel_manager, licensing_user
):
    waiting = ask(expired, channel_manager)
    cancelled_on = expired.expired_on + GRACE

    run(cancelled_on)

    (row,) = rows(NotificationKind.EXTENSION_REFUSED)
    assert (row.recipient, row.params["reason"]) == (channel_manager.email, "license cancelled")
    assert row.key == f"extension_refused:{expired.pk}:{waiting.pk}:{channel_manager.email}"
    run(cancelled_on)
    assert len(rows(NotificationKind.EXTENSION_REFUSED)) == 1


def test_an_on_premises_license_renewed_at_night_gets_a_new_file_and_a_cloud_one_no_mail(
    partner, region, provisioned, release
):
    from tests.factories import partner_ready_for_licenses

    on_premises = provisioned(partner, hosting="on_premises")
    cloud_partner = partner_ready_for_licenses(region=region, name="Porto Apps SA")
    cloud = provisioned(cloud_partner)
    for each in (partner, cloud_partner):
        term = next_term(each, on_premises.ends_on)
    day = on_premises.ends_on + timedelta(days=1)

    assert run(day)["renewed"] == 2

    (row,) = rows(NotificationKind.ACTIVE_AGAIN)
    assert row.key == f"active_again:{on_premises.pk}:{term.ends_on}:{technical(partner)}"
    (message,) = sent("New license file")
    assert f"was renewed\nto {term.ends_on}, its last valid day" in message.body
    assert "/portal/" in message.body
    # The cloud license renewed too, and nobody is told: it has no file to install.
    assert not cloud.notifications.filter(kind=NotificationKind.ACTIVE_AGAIN).exists()
    run(day)
    assert len(rows(NotificationKind.ACTIVE_AGAIN)) == 1


def test_an_on_premises_license_active_again_within_grace_gets_a_new_file(partner, provisioned):
    lic = provisioned(partner, hosting="on_premises")
    end = lic.ends_on
    run(end + timedelta(days=1))
    term = next_term(partner, end, signed_on=end + timedelta(days=10))  # signed late

    assert run(end + timedelta(days=11))["reactivated"] == 1

    (row,) = rows(NotificationKind.ACTIVE_AGAIN)
    assert (row.recipient, row.params) == (
        technical(partner),
        {"ends_on": term.ends_on.isoformat(), "why": mails.REACTIVATED},
    )
    assert f"is active again\nto {term.ends_on}" in sent("New license file")[0].body
    run(end + timedelta(days=11))
    assert len(rows(NotificationKind.ACTIVE_AGAIN)) == 1


def test_the_people_of_a_batch_are_read_in_three_queries_whatever_its_size(
    region, provisioned, release, trial, django_assert_num_queries
):
    from licensing import selectors
    from tests.factories import UserFactory, partner_ready_for_licenses

    ids, managers, technical = [trial.pk], {}, {}
    architect = trial.opportunity.solution_architect.email
    for i in range(5):
        manager = UserFactory(email=f"cm{i}@vendor.example")
        partner = partner_ready_for_licenses(region=region, name=f"P{i}", channel_manager=manager)
        ids.append(provisioned(partner).pk)
        managers[ids[-1]] = manager.email
        technical[ids[-1]] = partner.contacts.get(role="technical").email
    with django_assert_num_queries(1):
        people = selectors.people_of(ids)
        # Each license's partner's own channel manager, read with the licenses: a mail to
        # the channel manager alone (an incident) reads nothing more.
        assert {pk: people[pk].channel_manager for pk in managers} == managers
    assert set(people) == set(ids)
    # The contacts and the trials' architects: one query each for the whole batch, on the
    # first mail that asks.
    with django_assert_num_queries(2):
        assert {pk: people[pk].technical for pk in technical} == technical
        assert all(len(people[pk].contacts) == 2 for pk in technical)
        assert people[trial.pk].architect == architect
    # Read once for the batch: every mail after the first asks nothing more.
    with django_assert_num_queries(0):
        assert all(people[pk].reminded == [*people[pk].contacts, managers[pk]] for pk in managers)
        assert people[trial.pk].follows_expiry == [architect, people[trial.pk].technical]


# --- Previews on the license page --------------------------------------------------------


def preview(client, lic, kind) -> str:
    response = client.get(f"/admin/licensing/license/{lic.pk}/preview/{kind}/")
    assert response.status_code == 200, response
    return unescape(response.content.decode())


@pytest.mark.parametrize("kind", ["request", "expired", "cancelled", "extension", "active_again"])
@pytest.mark.parametrize("which", ["active", "expired"])
def test_every_lifecycle_preview_renders_without_the_activation_code(
    client, request, partner, provisioned, release, licensing_user, noon_on_today, kind, which
):
    lic = provisioned(partner) if which == "active" else request.getfixturevalue("expired")
    client.force_login(licensing_user)

    html = preview(client, lic, kind)

    assert f"{previews.KINDS[kind]} of {lic}" in html
    assert lic.activation_code not in html


def test_the_expiry_preview_shows_the_dates_and_the_reason_of_the_expiry(
    client, expired, partner, licensing_user, noon_on_today
):
    client.force_login(licensing_user)

    html = preview(client, expired, "expired")

    assert f"Demo License {expired} expired on {expired.expired_on}: no publishing" in html
    assert f"it is cancelled on {expired.expired_on + GRACE}" in html
    assert f"Reason: no partnership term covers {expired.expired_on}" in html
    for email in contacts(partner):
        assert email in html


def test_the_expiry_preview_of_an_active_trial_shows_what_the_night_would_say(
    client, trial, partner, architect, licensing_user, noon_on_today
):
    client.force_login(licensing_user)

    html = preview(client, trial, "expired")

    expired_on = trial.ends_on + timedelta(days=1)
    assert "Not expired: shown as it would be the day after its end" in html
    assert f"expired on {expired_on}: no publishing" in html
    assert "Reason: end of the trial" in html
    assert f"{architect.email}, {technical(partner)}" in html  # the recipients


def test_the_cancellation_preview_of_an_expired_license_shows_the_end_of_its_grace(
    client, expired, licensing_user, noon_on_today
):
    client.force_login(licensing_user)

    html = preview(client, expired, "cancelled")

    assert f"cancelled on {expired.expired_on + GRACE}" in html
    assert "Reason: grace period of 30 days over" in html


def test_the_active_again_preview_of_an_on_premises_license_has_the_portal_link(
    client, partner, provisioned, licensing_user, settings, noon_on_today
):
    settings.SITE_URL = "https://desk.example.com"
    lic = provisioned(partner, hosting="on_premises")
    client.force_login(licensing_user)

    html = preview(client, lic, "active_again")

    assert f"New license file: Demo License {lic} runs to {lic.ends_on}" in html
    assert "https://desk.example.com/portal/" in html
    assert f"<dd>{technical(partner)}</dd>" in html  # the technical contact alone


def test_the_active_again_preview_of_a_cloud_license_says_nobody_gets_it(
    client, partner, provisioned, release, licensing_user, noon_on_today
):
    lic = provisioned(partner)
    client.force_login(licensing_user)

    html = preview(client, lic, "active_again")

    assert "Nobody would receive it: a cloud license has no license file" in html
    assert "<dd>nobody</dd>" in html


def test_decided_events_preview_with_their_own_reasons(
    client, partner, provisioned, release, channel_manager, licensing_user, noon_on_today
):
    refused_request = provisioned(partner, state="requested")
    services.refuse(refused_request, by=licensing_user, reason="No signed agreement", on=TODAY)
    cancelled = provisioned(partner, hosting="on_premises")
    services.cancel(cancelled, by=licensing_user, reason="Resold to a customer", on=TODAY)
    client.force_login(licensing_user)

    html = preview(client, refused_request, "request")
    assert f"was refused on {TODAY}" in html and "Reason: No signed agreement" in html
    html = preview(client, cancelled, "cancelled")
    assert f"cancelled on {TODAY}" in html and "Reason: Resold to a customer" in html


def test_the_extension_preview_shows_the_refusal_and_its_reason(
    client, expired, channel_manager, licensing_user, noon_on_today
):
    ext = ask(expired, channel_manager)
    services.refuse_extension(ext, by=licensing_user, reason="No open sales cycle", on=TODAY)
    client.force_login(licensing_user)

    html = preview(client, expired, "extension")

    assert f"Extension refused: Demo License {expired}" in html
    assert "Reason: No open sales cycle" in html
    assert f"<dd>{channel_manager.email}</dd>" in html


def test_the_license_page_links_to_the_expiry_and_active_again_previews(
    client, partner, provisioned, release, licensing_user, noon_on_today
):
    lic = provisioned(partner)
    client.force_login(licensing_user)

    html = client.get(f"/admin/licensing/license/{lic.pk}/change/").content.decode()

    base = f"/admin/licensing/license/{lic.pk}/preview"
    assert f'href="{base}/expired/">Preview expiry mail' in html
    assert f'href="{base}/active_again/">Preview active-again mail' in html
