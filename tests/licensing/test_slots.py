"""Environment slots and reissued activation codes (SPEC "Environment slots", "Reissue a
code"): a server per slot registered by the partner, released by the licensing team with a
reason kept in history; a reissued code replaces the old one everywhere at once."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils.html import escape

from licensing import mails, services, signing
from licensing.choices import FileVia, NotificationKind
from licensing.models import Environment, LicenseFileIssue, Notification
from tests.factories import TODAY, partner_ready_for_licenses
from tests.helpers import refused

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

REGISTRATION_ID = "ACME-PROD-01"


def register(lic, registration_id=REGISTRATION_ID, code=None):
    return services.register_infrastructure(
        activation_code=code or lic.activation_code,
        registration_id=registration_id,
        platform_version="11.30.0",
    )


@pytest.fixture
def on_prem(partner, provisioned, release):
    lic = provisioned(partner, hosting="on_premises")
    register(lic)
    lic.refresh_from_db()
    return lic


def slot(lic, name, serial, *, code=None, registration_id=REGISTRATION_ID):
    return services.register_environment(
        activation_code=code or lic.activation_code,
        registration_id=registration_id,
        environment_name=name,
        serial_number=serial,
    )


def technical(partner) -> str:
    return partner.contacts.get(role="technical").email


def file_mails(lic) -> list[Notification]:
    return list(lic.notifications.filter(kind=NotificationKind.ACTIVE_AGAIN).order_by("id"))


# --- Registering servers ----------------------------------------------------------------------


def test_a_server_registered_in_a_slot_is_in_the_next_file_and_tells_the_technical_contact(
    on_prem, partner
):
    before = signing.verify(services.license_file(on_prem))

    environment = slot(on_prem, "production", "srv-prd-0001")  # the slot name ignoring case

    assert (environment.name, environment.serial_number) == ("Production", "srv-prd-0001")
    assert environment.registered_on == TODAY
    assert environment.history.latest().history_change_reason == (
        "server srv-prd-0001 registered on the licensing portal"
    )
    after = signing.verify(services.license_file(on_prem))
    assert after["environment_serials"] == {"Development": None, "Production": "srv-prd-0001"}
    assert after["file_serial"] == before["file_serial"] + 1
    (row,) = file_mails(on_prem)
    assert row.recipient == technical(partner)
    assert row.params["why"] == mails.SLOT_REGISTERED
    services.deliver_notifications()
    (message,) = [m for m in mail.outbox if "New license file" in m.subject]
    assert "has server srv-prd-0001 registered in its Production environment" in message.body


def test_a_serial_registered_elsewhere_is_refused_ignoring_case(on_prem, region, provisioned):
    other = partner_ready_for_licenses(region=region, name="Porto Apps SA")
    other_lic = provisioned(other, hosting="on_premises")
    register(other_lic, "PORTO-01")
    slot(other_lic, "Production", "SRV-SHARED-01", registration_id="PORTO-01")

    refused(lambda: slot(on_prem, "Production", "srv-shared-01"), services.SERIAL_TAKEN)

    assert Environment.objects.filter(serial_number__iexact="srv-shared-01").count() == 1
    assert not file_mails(on_prem)


def test_a_slot_that_holds_a_server_is_refused_until_released(on_prem):
    slot(on_prem, "Production", "SRV-PRD-0001")

    refused(lambda: slot(on_prem, "Production", "SRV-PRD-0002"), "already holds server")


def test_an_unknown_slot_is_refused(on_prem):
    text = refused(lambda: slot(on_prem, "Quality", "SRV-QA-0001"), "no environment Quality")

    assert "Development, Production" in text


def test_more_servers_than_slots_are_refused(on_prem):
    slot(on_prem, "Development", "SRV-DEV-0001")
    slot(on_prem, "Production", "SRV-PRD-0001")

    refused(lambda: slot(on_prem, "Development", "SRV-DEV-0002"), "All 2 environments")
    assert Environment.objects.exclude(serial_number="").count() == 2


@pytest.mark.parametrize("serial", ["ab1", "x" * 65, "SRV 0001", "SRV/0001", ""])
def test_a_malformed_serial_is_refused(on_prem, serial):
    refused(lambda: slot(on_prem, "Production", serial), services.SERIAL_MALFORMED)


@pytest.mark.parametrize("pair", ["wrong code", "wrong identifier"])
def test_a_wrong_pair_registers_nothing_with_the_generic_error(on_prem, pair):
    code, registration_id = {
        "wrong code": ("ABCD-EFGH-JKLM-NPQR", REGISTRATION_ID),
        "wrong identifier": (on_prem.activation_code, "ACME-PROD-99"),
    }[pair]

    with pytest.raises(services.InvalidActivationCode):
        slot(on_prem, "Production", "SRV-PRD-0001", code=code, registration_id=registration_id)
    assert not Environment.objects.exclude(serial_number="").exists()


# --- Releasing a slot -------------------------------------------------------------------------


def test_release_then_register_again_keeps_every_serial_and_why_in_history(on_prem, licensing_user):
    environment = slot(on_prem, "Production", "SRV-PRD-0001")

    services.release_environment(environment, by=licensing_user, reason="server replaced")

    environment.refresh_from_db()
    assert (environment.serial_number, environment.registered_on) == ("", None)
    released = environment.history.latest()
    assert released.history_change_reason == "server SRV-PRD-0001 released: server replaced"
    assert released.history_user == licensing_user
    slot(on_prem, "Production", "SRV-PRD-0002")
    reasons = list(
        environment.history.order_by("history_id").values_list("history_change_reason", flat=True)
    )
    assert reasons[-3:] == [
        "server SRV-PRD-0001 registered on the licensing portal",
        "server SRV-PRD-0001 released: server replaced",
        "server SRV-PRD-0002 registered on the licensing portal",
    ]
    # Three changes of the file, three mails; each is its own event.
    assert [row.params["why"] for row in file_mails(on_prem)] == [
        mails.SLOT_REGISTERED,
        mails.SLOT_RELEASED,
        mails.SLOT_REGISTERED,
    ]


def test_the_same_serial_can_be_registered_again_once_released(on_prem, licensing_user):
    environment = slot(on_prem, "Production", "SRV-PRD-0001")
    services.release_environment(environment, by=licensing_user, reason="moved to Development")

    assert slot(on_prem, "Development", "srv-prd-0001").serial_number == "srv-prd-0001"


@pytest.mark.parametrize("who", ["channel_manager", "auditor", "architect"])
def test_only_the_licensing_team_releases_a_slot(on_prem, request, who):
    environment = slot(on_prem, "Production", "SRV-PRD-0001")

    refused(
        lambda: services.release_environment(
            environment, by=request.getfixturevalue(who), reason="because"
        ),
        "Only the licensing team",
    )
    environment.refresh_from_db()
    assert environment.serial_number == "SRV-PRD-0001"


def test_a_release_needs_a_reason_and_a_server(on_prem, licensing_user):
    environment = slot(on_prem, "Production", "SRV-PRD-0001")
    refused(
        lambda: services.release_environment(environment, by=licensing_user, reason=" "),
        services.REASON_REQUIRED,
    )
    free = on_prem.infrastructure.environments.get(name="Development")
    refused(
        lambda: services.release_environment(free, by=licensing_user, reason="nothing"),
        "holds no server",
    )


# --- Reissuing the activation code ------------------------------------------------------------


def test_a_reissued_code_replaces_the_old_one_on_every_portal_path(
    client, on_prem, licensing_user, partner, django_capture_on_commit_callbacks
):
    old = on_prem.activation_code
    number, infra = on_prem.pk, on_prem.infrastructure_id
    # An open portal session of the old code.
    client.post("/portal/returning/", {"activation_code": old, "registration_id": REGISTRATION_ID})
    assert client.get("/portal/infrastructure/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        new = services.reissue_activation_code(
            on_prem, by=licensing_user, reason="the partner lost it"
        )

    assert new != old
    # Dead everywhere at once: the returning partner, the slots, the open session.
    with pytest.raises(services.InvalidActivationCode):
        services.portal_license(activation_code=old, registration_id=REGISTRATION_ID)
    with pytest.raises(services.InvalidActivationCode):
        slot(on_prem, "Production", "SRV-PRD-0001", code=old)
    assert client.get("/portal/infrastructure/")["Location"] == "/portal/returning/"
    assert client.get("/portal/license-file/")["Location"] == "/portal/"
    response = client.post(
        "/portal/returning/", {"activation_code": old, "registration_id": REGISTRATION_ID}
    )
    assert escape(services.INVALID_CODE) in response.content.decode()
    # The new one works; the license keeps its number, infrastructure and registration.
    assert services.portal_license(activation_code=new, registration_id=REGISTRATION_ID) == on_prem
    assert slot(on_prem, "Production", "SRV-PRD-0001", code=new).serial_number
    on_prem.refresh_from_db()
    assert (on_prem.pk, on_prem.infrastructure_id) == (number, infra)
    assert on_prem.infrastructure.registration_id == REGISTRATION_ID
    assert on_prem.activation_code_sequence == 2
    # History: who and why, never the code.
    record = on_prem.history.filter(history_change_reason__startswith="activation code").get()
    assert record.history_user == licensing_user
    assert record.history_change_reason == "activation code reissued: the partner lost it"
    assert not hasattr(record, "activation_code")
    # The technical contact gets the new code; the row's params do not hold it.
    (row,) = on_prem.notifications.filter(kind=NotificationKind.CODE_REISSUED)
    assert row.recipient == technical(partner)
    assert row.key == f"code_reissued:{on_prem.pk}:2:{technical(partner)}"
    assert new not in str(row.params)
    (message,) = [m for m in mail.outbox if "New activation code" in m.subject]
    assert message.to == [technical(partner)]
    assert new in message.body and new in message.alternatives[0][0]
    assert old not in message.body


def test_a_reissued_code_of_an_unregistered_license_registers_it(
    partner, provisioned, release, licensing_user
):
    lic = provisioned(partner, hosting="on_premises")
    old = lic.activation_code
    new = services.reissue_activation_code(lic, by=licensing_user, reason="mail lost")

    with pytest.raises(services.InvalidActivationCode):
        register(lic, code=old)
    register(lic, code=new)

    lic.refresh_from_db()
    assert lic.infrastructure.registration_id == REGISTRATION_ID


def test_a_mail_of_a_code_reissued_again_before_it_went_out_holds_no_code(on_prem, licensing_user):
    first = services.reissue_activation_code(on_prem, by=licensing_user, reason="lost")
    second = services.reissue_activation_code(on_prem, by=licensing_user, reason="lost again")

    services.deliver_notifications()

    bodies = [m.body for m in mail.outbox if "New activation code" in m.subject]
    assert len(bodies) == 2
    assert first not in "".join(bodies)
    assert sum(second in body for body in bodies) == 1


@pytest.mark.parametrize("who", ["channel_manager", "auditor", "architect"])
def test_only_the_licensing_team_reissues_a_code(on_prem, request, who):
    old = on_prem.activation_code

    refused(
        lambda: services.reissue_activation_code(
            on_prem, by=request.getfixturevalue(who), reason="because"
        ),
        "Only the licensing team",
    )
    on_prem.refresh_from_db()
    assert on_prem.activation_code == old


def test_only_an_active_license_gets_a_new_code_and_only_with_a_reason(on_prem, licensing_user):
    refused(
        lambda: services.reissue_activation_code(on_prem, by=licensing_user, reason=""),
        services.REASON_REQUIRED,
    )
    services.run_nightly(today=on_prem.ends_on + timedelta(days=1))
    on_prem.refresh_from_db()
    refused(
        lambda: services.reissue_activation_code(on_prem, by=licensing_user, reason="lost"),
        "This license is expired",
    )
    assert not Notification.objects.filter(kind=NotificationKind.CODE_REISSUED).exists()


# --- The admin --------------------------------------------------------------------------------


def license_page(client, lic) -> str:
    return client.get(f"/admin/licensing/license/{lic.pk}/change/").content.decode()


def test_the_license_page_shows_slots_and_the_file_log(client, on_prem, licensing_user):
    slot(on_prem, "Production", "SRV-PRD-0001")
    services.issue_license_file(on_prem, via=FileVia.PORTAL)
    client.force_login(licensing_user)

    html = license_page(client, on_prem)

    assert "SRV-PRD-0001" in html
    assert TODAY.strftime("%Y-%m-%d") in html
    assert "Licensing portal" in html  # the file log's "via"
    assert "#1" in html
    assert f"/admin/licensing/license/{on_prem.pk}/reissue-code/" in html
    assert "Release…" in html


def test_the_licensing_team_downloads_the_current_file_logged_as_theirs(
    client, on_prem, licensing_user
):
    client.force_login(licensing_user)

    response = client.post(f"/admin/licensing/license/{on_prem.pk}/license-file/")

    assert response.status_code == 200
    assert signing.verify(response.content)["license_id"] == on_prem.pk
    issue = LicenseFileIssue.objects.get(license=on_prem)
    assert (issue.via, issue.by) == (FileVia.ADMIN, licensing_user)


def test_the_reissue_page_shows_the_new_code_once(client, on_prem, licensing_user):
    client.force_login(licensing_user)
    url = f"/admin/licensing/license/{on_prem.pk}/reissue-code/"
    assert client.post(url, {"reason": ""}).status_code == 200  # the form again
    on_prem.refresh_from_db()
    assert on_prem.activation_code_sequence == 1

    response = client.post(url, {"reason": "the partner lost it"})

    on_prem.refresh_from_db()
    assert on_prem.activation_code in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert on_prem.activation_code not in license_page(client, on_prem)
    row = Notification.objects.get(kind=NotificationKind.CODE_REISSUED)
    for url in (
        "/admin/licensing/notification/",
        f"/admin/licensing/notification/{row.pk}/change/",
    ):
        assert on_prem.activation_code not in client.get(url).content.decode()


def test_the_release_page_asks_for_a_reason_then_frees_the_slot(client, on_prem, licensing_user):
    environment = slot(on_prem, "Production", "SRV-PRD-0001")
    client.force_login(licensing_user)
    url = f"/admin/licensing/license/{on_prem.pk}/release-environment/?environment=Production"

    assert "SRV-PRD-0001" in client.get(url).content.decode()
    response = client.post(url, {"reason": "server replaced"})

    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.serial_number == ""
    history = client.get(
        f"/admin/licensing/infrastructure/{on_prem.infrastructure_id}/history/"
    ).content.decode()
    assert "server SRV-PRD-0001 released: server replaced" in history


@pytest.mark.parametrize("who", ["channel_manager", "auditor"])
def test_other_roles_get_403_on_the_licensing_team_pages(client, on_prem, request, who):
    environment = slot(on_prem, "Production", "SRV-PRD-0001")
    client.force_login(request.getfixturevalue(who))
    base = f"/admin/licensing/license/{on_prem.pk}"

    assert client.post(f"{base}/license-file/").status_code == 403
    assert client.post(f"{base}/reissue-code/", {"reason": "x"}).status_code == 403
    release = f"{base}/release-environment/?environment=Production"
    assert client.post(release, {"reason": "x"}).status_code == 403
    assert "Release…" not in license_page(client, on_prem)
    assert "reissue-code" not in license_page(client, on_prem)
    environment.refresh_from_db()
    assert environment.serial_number == "SRV-PRD-0001"
    assert not LicenseFileIssue.objects.exists()


def test_the_ipp_overview_shows_servers_and_registration_dates(client, on_prem, licensing_user):
    slot(on_prem, "Production", "SRV-PRD-0001")
    client.force_login(licensing_user)

    html = client.get(f"/admin/ipp/application/infrastructure/{on_prem.infrastructure_id}/")

    text = html.content.decode()
    assert "server <code>SRV-PRD-0001</code>, registered " + TODAY.isoformat() in text
    assert "Development: no server registered" in text
