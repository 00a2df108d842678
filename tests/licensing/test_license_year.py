"""The license file through the license's year (SPEC "The license file follows the
license"): the file of a renewed, reactivated or extended license says its new end date
under a higher serial, every handout is logged, and a returning partner gets it from the
portal with the code and the identifier it registered."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.html import escape

from licensing import mails, services, signing, views
from licensing.choices import AttemptOutcome, FileVia, NotificationKind
from licensing.models import LicenseFileIssue, RegistrationAttempt
from tests.factories import TODAY, ReleaseFactory, TermFactory
from tests.helpers import refused

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

REGISTRATION_ID = "ACME-PROD-01"
RETURNING = "/portal/returning/"
INFRASTRUCTURE = "/portal/infrastructure/"
DOWNLOAD = "/portal/license-file/"


@pytest.fixture
def on_prem(partner, provisioned, release):
    """An active on-premises Demo license whose infrastructure is registered."""
    lic = provisioned(partner, hosting="on_premises")
    services.register_infrastructure(
        activation_code=lic.activation_code,
        registration_id=REGISTRATION_ID,
        platform_version="11.30.0",
        on=TODAY,
    )
    lic.refresh_from_db()
    return lic


def claims_of(data: bytes) -> dict:
    return signing.verify(data)


def next_term(partner, after, **kwargs):
    start = after + timedelta(days=1)
    return TermFactory(
        partner=partner, starts_on=start, ends_on=start + timedelta(days=364), **kwargs
    )


def technical(partner) -> str:
    return partner.contacts.get(role="technical").email


# --- The file and its serial ----------------------------------------------------------------


def test_the_first_file_is_serial_1_and_a_second_download_of_it_keeps_the_serial(on_prem):
    first = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    second = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))

    assert first["file_serial"] == second["file_serial"] == 1
    assert first["issued_at"]
    assert first["state"] == "active"
    assert first["environment_serials"] == {"Development": None, "Production": None}
    # Both handouts are logged, under the same serial.
    issues = LicenseFileIssue.objects.filter(license=on_prem).order_by("id")
    assert [(i.file_serial, i.via, i.by) for i in issues] == [(1, "portal", None)] * 2
    on_prem.refresh_from_db()
    assert on_prem.file_serial == 1
    assert on_prem.file_fingerprint == services.file_fingerprint(first)


def test_the_sha256_logged_is_the_digest_of_the_file_handed_out(on_prem, licensing_user):
    import hashlib

    data = services.issue_license_file(on_prem, via=FileVia.ADMIN, by=licensing_user)

    issue = LicenseFileIssue.objects.get(license=on_prem)
    assert issue.sha256 == hashlib.sha256(data).hexdigest()
    assert (issue.via, issue.by) == (FileVia.ADMIN, licensing_user)


def test_license_file_signs_the_license_as_it_is_now_and_logs_no_handout(on_prem):
    data = services.license_file(on_prem)

    claims = claims_of(data)
    assert claims["file_serial"] == 1
    assert claims["ends_on"] == on_prem.ends_on.isoformat()
    assert not LicenseFileIssue.objects.exists()


def test_the_renewal_gives_a_file_with_the_new_end_date_and_a_higher_serial(on_prem, partner):
    old = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    term = next_term(partner, on_prem.ends_on)

    assert services.run_nightly(today=on_prem.ends_on + timedelta(days=1))["renewed"] == 1

    on_prem.refresh_from_db()
    new = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    assert new["ends_on"] == term.ends_on.isoformat() != old["ends_on"]
    assert new["file_serial"] == old["file_serial"] + 1


def test_the_reactivation_gives_a_file_with_the_new_end_date_and_a_higher_serial(on_prem, partner):
    old = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    end = on_prem.ends_on
    services.run_nightly(today=end + timedelta(days=1))  # expired: no term after it
    on_prem.refresh_from_db()
    refused(lambda: services.issue_license_file(on_prem, via=FileVia.PORTAL), "expired")
    term = next_term(partner, end, signed_on=end + timedelta(days=10))

    assert services.run_nightly(today=end + timedelta(days=11))["reactivated"] == 1

    on_prem.refresh_from_db()
    new = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    assert new["ends_on"] == term.ends_on.isoformat()
    assert new["file_serial"] == old["file_serial"] + 1


def test_the_extension_gives_a_file_with_the_new_end_date_and_a_higher_serial(
    on_prem, channel_manager, licensing_user
):
    old = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    services.run_nightly(today=on_prem.ends_on + timedelta(days=1))
    on_prem.refresh_from_db()
    until = on_prem.ends_on + timedelta(days=60)
    ext = services.request_extension(
        on_prem,
        by=channel_manager,
        reason="legal_constraints",
        requested_until=until,
        on=on_prem.expired_on,
    )

    services.grant_extension(ext, by=licensing_user, on=on_prem.expired_on)

    on_prem.refresh_from_db()
    new = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    assert new["ends_on"] == until.isoformat()
    assert new["file_serial"] == old["file_serial"] + 1


def test_an_unregistered_or_cloud_license_without_registration_gets_no_file(
    partner, provisioned, release
):
    lic = provisioned(partner, hosting="on_premises")

    refused(lambda: services.license_file(lic), services.NOT_REGISTERED)
    refused(lambda: services.issue_license_file(lic, via=FileVia.PORTAL), services.NOT_REGISTERED)
    assert not LicenseFileIssue.objects.exists()


# --- verify_license_file ----------------------------------------------------------------------


def verify(path, *args) -> tuple[str, str]:
    """(stdout, stderr) of the verifier."""
    out, err = StringIO(), StringIO()
    call_command("verify_license_file", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_verifier_prints_the_serial_and_says_when_a_newer_file_exists(
    on_prem, partner, tmp_path
):
    old = tmp_path / "old.json"
    old.write_bytes(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    out, err = verify(old)
    header, _, body = out.partition("\n")
    assert header.endswith(", file serial 1)")
    assert json.loads(body)["file_serial"] == 1  # the rest is the claims, as before
    assert err == ""

    next_term(partner, on_prem.ends_on)
    services.run_nightly(today=on_prem.ends_on + timedelta(days=1))
    # Renewed, no new file handed out yet: the database knows the content changed.
    assert "a newer license file (serial 2) is ready" in verify(old)[1]

    on_prem.refresh_from_db()
    new = tmp_path / "new.json"
    new.write_bytes(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    assert "a newer license file exists: serial 2 (this file: 1)" in verify(old)[1]
    out, err = verify(new)
    assert out.startswith("license file verified")
    assert ", file serial 2)" in out
    assert err == ""


def test_the_verifier_of_a_license_the_database_does_not_know_only_verifies(tmp_path):
    path = tmp_path / "license.json"
    path.write_bytes(signing.sign_claims({"license_id": 987654, "file_serial": 3}))

    out, err = verify(path)

    assert out.startswith("license file verified")
    assert ", file serial 3)" in out
    assert err == ""


# --- Mail when the file changes ---------------------------------------------------------------


def test_an_upgrade_recorded_tells_the_technical_contact_once_a_new_file_is_ready(
    on_prem, partner, licensing_user
):
    before = claims_of(services.license_file(on_prem))
    newer = ReleaseFactory(version="11.31.0", released_on=TODAY - timedelta(days=5))

    services.record_upgrade(on_prem.infrastructure, by=licensing_user, release=newer)

    (row,) = on_prem.notifications.filter(kind=NotificationKind.ACTIVE_AGAIN)
    assert row.recipient == technical(partner)
    assert row.key == f"active_again:{on_prem.pk}:upgraded-11.31.0:{technical(partner)}"
    assert row.params["why"] == mails.UPGRADED
    on_prem.refresh_from_db()
    after = claims_of(services.license_file(on_prem))
    assert after["platform_release"] == "11.31.0"
    assert after["file_serial"] == before["file_serial"] + 1
    # Recorded again: refused (not newer), and no second mail.
    refused(
        lambda: services.record_upgrade(on_prem.infrastructure, by=licensing_user, release=newer),
        "not newer",
    )
    assert on_prem.notifications.filter(kind=NotificationKind.ACTIVE_AGAIN).count() == 1


# --- The returning partner on the portal ------------------------------------------------------


def open_page(client, code, registration_id=REGISTRATION_ID, **extra):
    return client.post(
        RETURNING, {"activation_code": code, "registration_id": registration_id}, **extra
    )


def test_portal_license_accepts_the_code_with_its_identifier_ignoring_case(on_prem):
    found = services.portal_license(
        activation_code=f" {on_prem.activation_code.lower()} ",
        registration_id=REGISTRATION_ID.lower(),
    )

    assert found == on_prem


def test_the_registration_page_links_the_returning_partner_page(client, release):
    assert f'href="{RETURNING}"' in client.get("/portal/").content.decode()


def test_a_returning_partner_downloads_the_renewed_file_and_sees_what_changed(
    client, on_prem, partner
):
    old = claims_of(services.issue_license_file(on_prem, via=FileVia.PORTAL))
    term = next_term(partner, on_prem.ends_on)
    services.run_nightly(today=on_prem.ends_on + timedelta(days=1))

    response = open_page(client, on_prem.activation_code.lower(), REGISTRATION_ID.lower())

    assert response.status_code == 302
    assert response["Location"] == INFRASTRUCTURE
    html = client.get(INFRASTRUCTURE).content.decode()
    assert "A new license file is ready" in html
    assert f"New end date: {term.ends_on.isoformat()} (was {old['ends_on']})" in html
    new = client.get(DOWNLOAD)
    assert new.status_code == 200
    claims = claims_of(new.content)
    assert (claims["ends_on"], claims["file_serial"]) == (term.ends_on.isoformat(), 2)
    assert LicenseFileIssue.objects.filter(license=on_prem, file_serial=2, via="portal").exists()
    assert "is current" in client.get(INFRASTRUCTURE).content.decode()


@pytest.mark.parametrize("wrong", ["code", "identifier", "other license", "expired"])
def test_every_wrong_pair_gets_the_generic_error_and_counts_toward_the_throttle(
    client, settings, on_prem, partner, region, provisioned, wrong
):
    from tests.factories import partner_ready_for_licenses

    settings.PORTAL_MAX_FAILURES = 2
    other = partner_ready_for_licenses(region=region, name="Porto Apps SA")
    other_lic = provisioned(other, hosting="on_premises")
    services.register_infrastructure(
        activation_code=other_lic.activation_code,
        registration_id="PORTO-01",
        platform_version="11.30.0",
    )
    pair = {
        "code": ("ABCD-EFGH-JKLM-NPQR", REGISTRATION_ID),
        "identifier": (on_prem.activation_code, "ACME-PROD-02"),
        "other license": (on_prem.activation_code, "PORTO-01"),
        "expired": (on_prem.activation_code, REGISTRATION_ID),
    }[wrong]
    if wrong == "expired":
        services.run_nightly(today=on_prem.ends_on + timedelta(days=1))

    response = open_page(client, *pair)

    assert response.status_code == 400
    assert escape(services.INVALID_CODE) in response.content.decode()
    assert RegistrationAttempt.objects.filter(outcome=AttemptOutcome.REFUSED_CODE).count() == 1
    assert client.get(INFRASTRUCTURE)["Location"] == RETURNING
    # The second wrong pair reaches the limit; then even the good pair is not tried.
    assert open_page(client, *pair).status_code == 400
    throttled = open_page(client, other_lic.activation_code, "PORTO-01")
    assert throttled.status_code == 429
    assert escape(views.THROTTLED) in throttled.content.decode()


def test_wrong_codes_on_registration_and_wrong_pairs_share_one_throttle(client, settings, on_prem):
    settings.PORTAL_MAX_FAILURES = 2
    client.post(
        "/portal/",
        {
            "activation_code": "WRONG-CODE-0001",
            "registration_id": "ANY-INFRA-01",
            "platform_version": "11.30.0",
        },
    )
    assert open_page(client, "WRONG-CODE-0002").status_code == 400

    assert open_page(client, on_prem.activation_code).status_code == 429


def test_a_good_pair_takes_back_its_count(client, settings, on_prem):
    settings.PORTAL_MAX_FAILURES = 2
    assert open_page(client, "WRONG-CODE-0001").status_code == 400
    assert open_page(client, on_prem.activation_code).status_code == 302
    assert not views.FAILURES.reached("127.0.0.1")
