"""End to end, in a real browser: a returning partner after the renewal of its on-premises
license. The code and the identifier it registered open the infrastructure's page on the
portal, which says the end date changed; the partner registers a server for Production and
downloads the renewed file, which verifies with the public key alone. The licensing team
sees the handouts and the slots on the license page. Screenshots go to $E2E_ARTIFACTS
(default var/e2e-artifacts/) as year-*.png.

Chromium (/usr/bin/chromium) driven by Playwright, as tests/e2e/test_browser.py; without
either the test skips, and fails when REQUIRE_SERVICES is set (CI).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from licensing import services, signing
from licensing.choices import FileVia
from licensing.models import LicenseFileIssue
from partners import roles
from partners.services import today
from tests.factories import (
    ContactFactory,
    PartnerFactory,
    RegionFactory,
    ReleaseFactory,
    TermFactory,
    UserFactory,
    provision_license,
)

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "e2e-Browser-pass-7"  # noqa: S105 - a test user's password
PARTNER = "Lisbon Low-Code Lda"
REGISTRATION_ID = "LISBON-ONPREM-01"
SERIAL = "SRV-LIS-PRD-0001"
TIMEOUT_MS = 20_000


@pytest.fixture
def browser_available():
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "needs Playwright for Python (requirements-dev.txt)"
    else:
        if not os.access(CHROMIUM, os.X_OK):
            problem = f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem and os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)


@pytest.fixture
def artifacts() -> Path:
    folder = Path(os.environ.get("E2E_ARTIFACTS") or settings.BASE_DIR / "var" / "e2e-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("year-*.png"):
        stale.unlink()
    return folder.resolve()


@pytest.fixture
def renewed(db, tmp_path):
    """An on-premises Demo license provisioned last year, registered, its first file handed
    out, then renewed by the nightly run to the new term: (license, code, old file, new end)."""
    day = today()
    region = RegionFactory(code="emea-south", name="EMEA South")
    lena = UserFactory(username="lena", roles=[roles.LICENSING_TEAM])
    lena.set_password(PASSWORD)
    lena.save()
    marta = UserFactory(username="marta", roles=[roles.CHANNEL_MANAGER])
    region.channel_managers.add(marta)
    ReleaseFactory(version="11.30.0", released_on=day - timedelta(days=400))
    partner = PartnerFactory(
        name=PARTNER,
        region=region,
        country="PT",
        channel_manager=marta,
        sales_authorized_on=day - timedelta(days=800),
    )
    last_year = TermFactory(
        partner=partner, starts_on=day - timedelta(days=365), ends_on=day - timedelta(days=1)
    )
    TermFactory(
        partner=partner,
        starts_on=last_year.starts_on - timedelta(days=365),
        ends_on=last_year.starts_on - timedelta(days=1),
    )
    this_year = TermFactory(partner=partner, starts_on=day, ends_on=day + timedelta(days=364))
    ContactFactory(partner=partner, role="financial", email="cfo@lisbon.example.com")
    ContactFactory(partner=partner, role="technical", email="cto@lisbon.example.com")
    on = last_year.starts_on + timedelta(days=10)
    lic = provision_license(
        partner,
        hosting="on_premises",
        requested_by=marta,
        licensing_user=lena,
        on=on,
    )
    code = lic.activation_code
    services.register_infrastructure(
        activation_code=code, registration_id=REGISTRATION_ID, platform_version="11.30.0", on=on
    )
    lic.refresh_from_db()
    old = tmp_path / "license-old.json"
    old.write_bytes(services.issue_license_file(lic, via=FileVia.PORTAL))
    assert services.run_nightly(today=day)["renewed"] == 1
    lic.refresh_from_db()
    assert lic.ends_on == this_year.ends_on
    return lic, code, old, this_year.ends_on


def shoot(page, folder: Path, name: str, shots: list[Path]) -> None:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    shots.append(path)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_returning_partner_downloads_the_renewed_file_and_it_verifies(
    browser_available, live_server, renewed, artifacts, tmp_path, capsys
):
    from playwright.sync_api import expect, sync_playwright

    lic, code, old_file, new_end = renewed
    old_claims = signing.verify(old_file.read_bytes())
    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        pages = []

        def new_page(**options):
            context = browser.new_context(
                base_url=live_server.url, viewport={"width": 1360, "height": 900}, **options
            )
            context.set_default_timeout(TIMEOUT_MS)
            pages.append(context.new_page())
            return pages[-1]

        try:
            # 1. From the registration page to the returning partner's page.
            portal = new_page(accept_downloads=True)
            portal.goto("/portal/")
            portal.click("text=Open your infrastructure")
            portal.wait_for_url("**/portal/returning/")
            # A wrong pair first: the generic error.
            portal.fill("#id_activation_code", code)
            portal.fill("#id_registration_id", "LISBON-ONPREM-02")
            portal.click("button[type=submit]")
            expect(portal.locator(".errors")).to_contain_text("This activation code is not valid")
            # The code as typed from the mail, the identifier in another case.
            portal.fill("#id_activation_code", code.lower())
            portal.fill("#id_registration_id", REGISTRATION_ID.lower())
            portal.click("button[type=submit]")
            portal.wait_for_url("**/portal/infrastructure/")
            expect(portal.locator(".file-changes")).to_contain_text("A new license file is ready")
            expect(portal.locator(".file-changes")).to_contain_text(
                f"New end date: {new_end.isoformat()} (was {old_claims['ends_on']})"
            )

            # 2. A server for Production.
            portal.fill("#id_serial_production", SERIAL)
            portal.click("#slot-production button[type=submit]")
            portal.wait_for_url("**/portal/infrastructure/")
            expect(portal.locator("#slot-production")).to_contain_text(SERIAL)
            shoot(portal, artifacts, "year-01-portal-returning-partner.png", shots)

            # 3. The renewed file.
            with portal.expect_download() as download_info:
                portal.click("text=Download the license file")
            new_file = tmp_path / "license-new.json"
            download_info.value.save_as(new_file)
            portal.reload()
            expect(portal.locator(".file-changes")).to_contain_text("is current")

            # 4. The licensing team's license page: the slots and the file log.
            page = new_page()
            page.goto("/admin/login/?next=/admin/")
            page.fill("#id_username", "lena")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/")
            page.goto(f"/admin/licensing/license/{lic.pk}/change/")
            expect(page.locator("#license-year")).to_contain_text(SERIAL)
            expect(page.locator("#license-year .file-issue")).to_have_count(2)
            shoot(page, artifacts, "year-02-license-page-files-and-slots.png", shots)
        except Exception:
            for i, open_page in enumerate(pages):
                if not open_page.is_closed():
                    shoot(open_page, artifacts, f"year-failure-{i}.png", shots)
            raise
        finally:
            browser.close()
            with capsys.disabled():
                print("\ne2e screenshots:", *(f"  {path}" for path in shots), sep="\n")

    # 5. The renewed file verifies with the public key alone, and says the new year.
    public = signing.public_key_pem()
    claims = signing.verify(new_file.read_bytes(), public)
    assert claims["license_id"] == lic.pk
    assert claims["ends_on"] == new_end.isoformat()
    assert claims["file_serial"] > old_claims["file_serial"]
    assert claims["environment_serials"]["Production"] == SERIAL
    assert signing.verify(old_file.read_bytes(), public)["ends_on"] == old_claims["ends_on"]
    assert list(
        LicenseFileIssue.objects.filter(license=lic).order_by("id").values_list("via", flat=True)
    ) == ["portal", "portal"]
