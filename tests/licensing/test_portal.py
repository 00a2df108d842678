"""The licensing portal at /portal/: registering an on-premises infrastructure with its
activation code, then downloading the signed license file."""

import logging
import re
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import Client
from django.utils.html import escape

from licensing import services, signing, views
from licensing.choices import AttemptOutcome, LicenseState
from licensing.models import Infrastructure, RegistrationAttempt
from tests.factories import TODAY, ReleaseFactory, partner_ready_for_licenses

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

PORTAL = "/portal/"
REGISTERED = "/portal/registered/"
DOWNLOAD = "/portal/license-file/"
REGISTRATION_ID = "ACME-PROD-01"


@pytest.fixture
def on_prem(partner, provisioned, release):
    """An active on-premises Demo license, as stored; `release` fills the portal's release
    choices."""
    lic = provisioned(partner, hosting="on_premises")
    lic.refresh_from_db()
    return lic


def register(client, code, registration_id=REGISTRATION_ID, version="11.30.0", **extra):
    return client.post(
        PORTAL,
        {"activation_code": code, "registration_id": registration_id, "platform_version": version},
        **extra,
    )


def page_errors(response) -> list[str]:
    """The texts of the page-wide error box (not the field errors)."""
    html = response.content.decode()
    return [
        " ".join(box.split())
        for box in re.findall(r'<div class="errors"[^>]*>(.*?)</div>', html, re.S)
    ]


def nothing_registered() -> bool:
    return not RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REGISTERED).exists()


# --- The registration page -------------------------------------------------------------------


def test_portal_page_shows_code_identifier_and_release_fields(client, release):
    response = client.get(PORTAL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="activation_code"' in html
    assert 'name="registration_id"' in html
    assert "Infrastructure identifier" in html
    assert '<select name="platform_version"' in html
    assert '<option value="11.30.0" selected>' in html  # the latest stable is preselected


def test_registering_with_a_good_code_binds_the_infrastructure_to_the_license(client, on_prem):
    response = register(client, on_prem.activation_code)

    assert response.status_code == 302
    assert response["Location"] == REGISTERED
    on_prem.refresh_from_db()
    infra = on_prem.infrastructure
    assert infra.registration_id == REGISTRATION_ID
    assert infra.registered_on == TODAY
    assert infra.platform_release.version == "11.30.0"
    assert on_prem.activation_code_used_at is not None
    attempt = RegistrationAttempt.objects.get(outcome=AttemptOutcome.REGISTERED)
    assert attempt.license == on_prem
    assert attempt.registration_id == REGISTRATION_ID
    assert attempt.client_ip == "127.0.0.1"
    # The infrastructure's history says the portal changed it.
    assert infra.history.latest().history_change_reason == "registered on the licensing portal"


def test_lowercase_code_with_spaces_is_accepted_as_typed_from_the_mail(client, on_prem):
    response = register(client, f"  {on_prem.activation_code.lower()} ")

    assert response.status_code == 302


@pytest.fixture
def older_and_newer_releases(release):
    ReleaseFactory(version="11.29.0", released_on=TODAY - timedelta(days=120))
    ReleaseFactory(version="11.31.0", released_on=TODAY - timedelta(days=10))
    # A newer preview is not "latest stable": it must not move the warning's baseline.
    ReleaseFactory(version="12.0.0", released_on=TODAY - timedelta(days=2), is_stable=False)


def test_registered_page_warns_when_the_release_is_not_the_latest_stable(
    client, on_prem, older_and_newer_releases
):
    register(client, on_prem.activation_code, version="11.29.0")

    response = client.get(REGISTERED)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="warning"' in html
    assert "Release 11.29.0 is not the latest stable" in html
    assert "(11.31.0)" in html
    assert REGISTRATION_ID in html


def test_registered_page_does_not_warn_on_the_latest_stable_release(
    client, on_prem, older_and_newer_releases
):
    register(client, on_prem.activation_code, version="11.31.0")

    response = client.get(REGISTERED)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="warning"' not in html
    assert "not the latest stable" not in html
    assert "11.31.0" in html


# --- The license file ------------------------------------------------------------------------


def test_license_file_is_signed_and_names_the_license_and_infrastructure(client, on_prem, tmp_path):
    register(client, on_prem.activation_code)

    response = client.get(DOWNLOAD)

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="license-DL-{on_prem.pk}.json"'
    )
    claims = signing.verify(response.content)
    assert claims["license_id"] == on_prem.pk
    assert claims["kind"] == "DL"
    assert claims["licensee"] == on_prem.partner.name
    assert claims["infrastructure_id"] == REGISTRATION_ID
    assert claims["platform_release"] == "11.30.0"
    assert claims["environments"] == ["Development", "Production"]
    assert claims["starts_on"] == TODAY.isoformat()
    assert claims["starts_on"] == on_prem.starts_on.isoformat()
    assert claims["ends_on"] == on_prem.ends_on.isoformat()
    assert claims["limits"]["internal_users"] == 100
    assert RegistrationAttempt.objects.filter(
        outcome=AttemptOutcome.DOWNLOADED, license=on_prem
    ).exists()

    # The offline verifier accepts the file as served...
    good = tmp_path / "license.json"
    good.write_bytes(response.content)
    out = StringIO()
    call_command("verify_license_file", str(good), stdout=out)
    assert "license file verified" in out.getvalue()
    assert REGISTRATION_ID in out.getvalue()
    assert f'"license_id": {on_prem.pk}' in out.getvalue()

    # ...and refuses it once a single byte of the claims changed.
    tampered = bytearray(response.content)
    tampered[response.content.index(REGISTRATION_ID.encode())] ^= 0x01
    bad = tmp_path / "tampered.json"
    bad.write_bytes(bytes(tampered))
    with pytest.raises(CommandError):
        call_command("verify_license_file", str(bad), stdout=StringIO())


@pytest.mark.parametrize("url", [DOWNLOAD, REGISTERED])
def test_pages_after_registration_redirect_to_the_portal_without_a_registered_session(
    client, on_prem, url
):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == PORTAL


# --- Codes that do not register --------------------------------------------------------------


def test_wrong_used_cloud_and_cancelled_codes_get_one_generic_error(
    client, settings, on_prem, partner, region, provisioned, licensing_user
):
    settings.PORTAL_MAX_FAILURES = 100  # this test is about the message, not the throttle
    cloud = provisioned(partner, hosting="shared_cloud")
    assert cloud.activation_code  # a cloud license has a code too, for the onboarding mail
    other = partner_ready_for_licenses(region=region, name="Porto Apps SA")
    cancelled = provisioned(other, hosting="on_premises")
    services.cancel(cancelled, by=licensing_user, reason="partner left the program")
    # The used code: registered once already, from another browser.
    assert (
        register(client.__class__(), on_prem.activation_code, "FIRST-INFRA-01").status_code == 302
    )
    registered_before = RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REGISTERED)
    assert registered_before.count() == 1

    codes = {
        "wrong": "ABCD-EFGH-JKLM-NPQR",
        "used": on_prem.activation_code,
        "cloud": cloud.activation_code,
        "cancelled": cancelled.activation_code,
    }
    for why, code in codes.items():
        response = register(client, code, "SECOND-INFRA-01")
        assert response.status_code == 400, why
        # The same words whatever the cause: the page must not tell a used code from a
        # wrong one, or a cloud one from an on-premises one.
        assert page_errors(response) == [escape(services.INVALID_CODE)], why
        assert '<div class="field-error">' not in response.content.decode(), why

    assert not Infrastructure.objects.filter(registration_id__iexact="SECOND-INFRA-01").exists()
    assert registered_before.count() == 1
    assert RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REFUSED_CODE).count() == 4
    cloud.refresh_from_db()
    cancelled.refresh_from_db()
    assert cloud.activation_code_used_at is None
    assert cancelled.activation_code_used_at is None
    assert cancelled.state == LicenseState.CANCELLED
    assert client.get(DOWNLOAD)["Location"] == PORTAL


def test_portal_throttles_a_client_after_too_many_wrong_codes(client, settings, on_prem):
    settings.PORTAL_MAX_FAILURES = 3
    for n in range(3):
        assert register(client, f"WRONG-CODE-000{n}").status_code == 400

    response = register(client, on_prem.activation_code)

    # Even the valid code is not tried while the client is throttled.
    assert response.status_code == 429
    assert escape(views.THROTTLED) in response.content.decode()
    on_prem.refresh_from_db()
    assert on_prem.activation_code_used_at is None
    assert on_prem.infrastructure.registration_id == ""
    assert nothing_registered()
    assert RegistrationAttempt.objects.filter(outcome=AttemptOutcome.THROTTLED).count() == 1

    elsewhere = register(client.__class__(), on_prem.activation_code, REMOTE_ADDR="198.51.100.7")

    assert elsewhere.status_code == 302
    on_prem.refresh_from_db()
    assert on_prem.infrastructure.registration_id == REGISTRATION_ID
    assert RegistrationAttempt.objects.get(outcome=AttemptOutcome.REGISTERED).client_ip == (
        "198.51.100.7"
    )


def test_a_good_code_takes_back_its_count_and_only_wrong_codes_throttle(client, settings, on_prem):
    settings.PORTAL_MAX_FAILURES = 2
    assert register(client, "WRONG-CODE-0001").status_code == 400
    # A good code with a malformed identifier is counted before it is tried, then taken back.
    assert register(client, on_prem.activation_code, registration_id="x!").status_code == 400
    assert register(client, on_prem.activation_code).status_code == 302
    assert not views.FAILURES.reached("127.0.0.1")

    assert register(client, "WRONG-CODE-0002").status_code == 400
    assert register(client, "WRONG-CODE-0003").status_code == 429


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_wrong_codes_from_one_client_process_at_most_the_limit(
    require_postgres, settings, release
):
    # The probe: with the check before the count, 40 concurrent wrong codes had 7 or
    # 8 tried where the limit is 5.
    settings.PORTAL_MAX_FAILURES = 5
    tries = 40
    barrier = threading.Barrier(tries)
    statuses = []

    def attempt(n):
        try:
            barrier.wait()
            statuses.append(register(Client(), f"WRONG-CODE-{n:04d}").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == tries
    assert statuses.count(400) == 5
    assert statuses.count(429) == tries - 5
    assert RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REFUSED_CODE).count() == 5


PROXY = {"REMOTE_ADDR": "10.0.0.2"}


def test_behind_the_trusted_proxy_each_customer_has_its_own_throttle(client, settings, on_prem):
    # The issue: counted per REMOTE_ADDR, every customer behind the TLS proxy shared one
    # bucket, so five wrong codes from anyone locked everyone out.
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.PORTAL_MAX_FAILURES = 3
    guesser = {**PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.66"}
    for n in range(3):
        assert register(client, f"WRONG-CODE-000{n}", **guesser).status_code == 400
    assert register(client, on_prem.activation_code, **guesser).status_code == 429

    customer = {**PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert register(Client(), on_prem.activation_code, **customer).status_code == 302

    assert set(
        RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REFUSED_CODE).values_list(
            "client_ip", flat=True
        )
    ) == {"203.0.113.66"}
    registered = RegistrationAttempt.objects.get(outcome=AttemptOutcome.REGISTERED)
    assert registered.client_ip == "198.51.100.7"


def test_a_forwarded_header_from_an_untrusted_client_does_not_escape_the_throttle(
    client, settings, on_prem
):
    settings.TRUSTED_PROXIES = []
    settings.PORTAL_MAX_FAILURES = 3
    for n in range(3):
        spoofed = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{n}"}
        assert register(client, f"WRONG-CODE-000{n}", **spoofed).status_code == 400
    fresh = {"HTTP_X_FORWARDED_FOR": "192.0.2.99"}
    assert register(client, "WRONG-CODE-0009", **fresh).status_code == 429


# --- Input errors after a valid code ---------------------------------------------------------


def test_malformed_identifier_is_explained_and_the_code_stays_usable(client, on_prem):
    response = register(client, on_prem.activation_code, registration_id="x!")

    assert response.status_code == 400
    assert escape(services.REGISTRATION_ID_MALFORMED) in response.content.decode()
    on_prem.refresh_from_db()
    assert on_prem.activation_code_used_at is None
    assert register(client, on_prem.activation_code).status_code == 302


def test_identifier_taken_in_another_letter_case_is_explained_and_the_code_stays_usable(
    client, on_prem, partner
):
    Infrastructure.objects.create(
        name="Someone else's",
        owner_partner=partner,
        hosting="on_premises",
        registration_id=REGISTRATION_ID,
    )

    response = register(client, on_prem.activation_code, registration_id=REGISTRATION_ID.lower())

    assert response.status_code == 400
    assert escape(services.REGISTRATION_ID_TAKEN) in response.content.decode()
    on_prem.refresh_from_db()
    assert on_prem.activation_code_used_at is None
    assert on_prem.infrastructure.registration_id == ""
    assert register(client, on_prem.activation_code, "ACME-PROD-02").status_code == 302


def test_unknown_release_is_explained_and_the_code_stays_usable(client, on_prem):
    response = register(client, on_prem.activation_code, version="9.9.9")

    assert response.status_code == 400
    assert escape(services.UNKNOWN_RELEASE.format(version="9.9.9")) in response.content.decode()
    on_prem.refresh_from_db()
    assert on_prem.activation_code_used_at is None
    # The refused attempt is kept for the licensing team like any other.
    assert RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REFUSED_INPUT).count() == 1
    assert register(client, on_prem.activation_code).status_code == 302


@pytest.mark.parametrize("field", ["registration_id", "activation_code", "platform_version"])
def test_a_nul_character_in_a_field_is_refused_and_never_stored(client, on_prem, field):
    # PostgreSQL refuses NUL in text: the attempt's log row must not carry it.
    values = {
        "activation_code": on_prem.activation_code,
        "registration_id": REGISTRATION_ID,
        "platform_version": "11.30.0",
    }
    values[field] += "\x00"

    response = client.post(PORTAL, values)

    assert response.status_code == 400
    # Refused by the form (or earlier, by the input hygiene middleware): whatever is logged
    # of the attempt holds no NUL.
    for attempt in RegistrationAttempt.objects.all():
        assert attempt.outcome == AttemptOutcome.REFUSED_INPUT
        assert "\x00" not in attempt.registration_id + attempt.detail
    on_prem.refresh_from_db()
    assert on_prem.activation_code_used_at is None


def test_a_post_the_form_rejects_is_still_logged_as_an_attempt(client, on_prem):
    # No code at all: nothing reaches the service, but the licensing team still sees the try.
    response = register(client, "", registration_id="ACME-PROD-01")

    assert response.status_code == 400
    attempt = RegistrationAttempt.objects.get()
    assert attempt.outcome in (AttemptOutcome.REFUSED_CODE, AttemptOutcome.REFUSED_INPUT)
    assert attempt.client_ip == "127.0.0.1"


# --- The audit trail -------------------------------------------------------------------------


def test_every_attempt_is_logged_and_no_code_is_ever_recorded(
    client, settings, caplog, on_prem, licensing_user
):
    caplog.set_level(logging.INFO)
    settings.PORTAL_MAX_FAILURES = 2
    wrong = "WXYZ-WXYZ-WXYZ-WXYZ"
    code = on_prem.activation_code

    outcomes = [
        register(client, wrong).status_code,  # refused code
        register(client, code, registration_id="x!").status_code,  # refused input
        register(client, code).status_code,  # registered
        client.get(DOWNLOAD).status_code,  # downloaded
        register(client, wrong).status_code,  # refused code (second failure)
        register(client, code).status_code,  # throttled
    ]

    assert outcomes == [400, 400, 302, 200, 400, 429]
    attempts = list(RegistrationAttempt.objects.order_by("pk"))
    assert [a.outcome for a in attempts] == [
        AttemptOutcome.REFUSED_CODE,
        AttemptOutcome.REFUSED_INPUT,
        AttemptOutcome.REGISTERED,
        AttemptOutcome.DOWNLOADED,
        AttemptOutcome.REFUSED_CODE,
        AttemptOutcome.THROTTLED,
    ]
    assert all(a.client_ip == "127.0.0.1" for a in attempts)
    # Neither the real code nor a guessed one is kept, in any column.
    for attempt in attempts:
        stored = " ".join(
            str(getattr(attempt, field.attname)) for field in attempt._meta.concrete_fields
        )
        for secret in (code, wrong):
            assert secret not in stored
            assert secret.lower() not in stored.lower()
    assert code not in caplog.text and wrong not in caplog.text
    assert "portal registered from 127.0.0.1" in caplog.text

    client.force_login(licensing_user)
    changelist = client.get("/admin/licensing/registrationattempt/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert REGISTRATION_ID in html
    assert code not in html and wrong not in html
