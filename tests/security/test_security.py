"""Hardening: tampering, brute force, CSRF, deploy checks and secrets in logs and reports."""

import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from unittest import mock

import pytest
from django.test import Client
from django.views.debug import ExceptionReporter

from config.log_filters import RedactSecrets, redact
from licensing import services
from licensing.models import PlatformRelease
from partners.models import Contact, Opportunity, Partner
from tests.factories import TODAY, RegionFactory, partner_ready_for_licenses, provision_license

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def foreign_partner(db):
    return partner_ready_for_licenses(region=RegionFactory(code="far"), name="Far Partner")


def test_channel_manager_cannot_attach_a_contact_to_another_regions_partner(
    client, channel_manager, foreign_partner
):
    client.force_login(channel_manager)
    response = client.post(
        "/admin/partners/contact/add/",
        {
            "partner": foreign_partner.pk,
            "role": "technical",
            "name": "Mole",
            "email": "m@x.example",
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Contact.objects.filter(name="Mole").exists()


def test_channel_manager_cannot_move_a_partner_into_a_region_she_does_not_manage(
    client, channel_manager, partner, foreign_partner
):
    client.force_login(channel_manager)
    data = {
        "name": partner.name,
        "status": partner.status,
        "country": "PT",
        "region": foreign_partner.region_id,
        "channel_manager": "",
        "sales_authorized_on": "2026-01-01",
        "delivery_authorized_on": "",
    }
    for prefix in ("contacts", "terms", "incidents", "licenses"):
        data |= {f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0}
    response = client.post(f"/admin/partners/partner/{partner.pk}/change/", data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Partner.objects.get(pk=partner.pk).region_id == partner.region_id


def test_channel_manager_cannot_register_an_opportunity_for_another_region(
    client, channel_manager, foreign_partner
):
    client.force_login(channel_manager)
    client.post(
        "/admin/partners/opportunity/add/",
        {
            "partner": foreign_partner.pk,
            "prospect_name": "Stolen deal",
            "prospect_country": "PT",
            "registered_on": str(TODAY),
            "status": "registered",
        },
    )
    assert not Opportunity.objects.filter(prospect_name="Stolen deal").exists()


def login(client, username, password):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )


def test_admin_login_locks_out_after_repeated_wrong_passwords(settings, licensing_user):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        assert login(client, "lena", "wrong").status_code in (200, 429)
    locked = login(client, "lena", "pw")  # the right password, too late
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not locked out for that user.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert login(other, "lena", "pw").status_code == 302


def test_a_successful_login_resets_the_failure_count(settings, licensing_user):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    login(client, "lena", "wrong")
    login(client, "lena", "wrong")
    assert login(client, "lena", "pw").status_code == 302
    client.logout()
    login(client, "lena", "wrong")
    login(client, "lena", "wrong")
    assert login(client, "lena", "pw").status_code == 302


@pytest.mark.parametrize("url", ["/admin/login/", "/portal/"])
def test_csrf_is_enforced_on_forms(db, url):
    client = Client(enforce_csrf_checks=True)
    response = client.post(url, {"username": "x", "password": "y", "activation_code": "z"})
    assert response.status_code == 403


def test_production_settings_pass_the_deploy_checks(tmp_path):
    key = tmp_path / "signing.pem"
    key.write_text("exists")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "p" * 30 + "-long-random-production-secret-0123456789abcdef",
        "DATABASE_URL": "postgres://u@localhost/db",
        "ALLOWED_HOSTS": "desk.example.com",
        "LICENSE_SIGNING_KEY_FILE": str(key),
    }
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_log_lines_mask_activation_codes_and_tokens():
    line = (
        "portal said ABCD-EFGH-JKLM-NPQR was bad; header Authorization: Token abcdefghijklmnop1234"
    )
    assert redact(line) == "portal said [redacted] was bad; header Authorization: Token [redacted]"
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "code %s", ("WXYZ-2345-6789-ABCD",), None
    )
    RedactSecrets().filter(record)
    assert record.getMessage() == "code [redacted]"


def test_error_reports_do_not_show_the_activation_code(partner, channel_manager, licensing_user):
    lic = provision_license(
        partner, hosting="on_premises", requested_by=channel_manager, licensing_user=licensing_user
    )
    with mock.patch.object(PlatformRelease.objects, "filter", side_effect=RuntimeError("db down")):
        try:
            services.register_infrastructure(
                activation_code=lic.activation_code,
                registration_id="ONPREM-XYZ-1",
                platform_version="11.30.0",
            )
        except RuntimeError:
            exc_type, exc, tb = sys.exc_info()
    # The HTML report (what DEBUG pages and mailed error reports show) lists local variables.
    report = ExceptionReporter(None, exc_type, exc, tb).get_traceback_html()
    assert "register_infrastructure" in report and "registration_id" in report
    assert lic.activation_code not in report
    traceback.clear_frames(tb)
