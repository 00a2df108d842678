"""End to end, in a real browser: a license from request to the signed file on the portal.

Chromium (Debian's /usr/bin/chromium, driven by Playwright's sync API) against pytest-django's
live server in this process: the channel manager asks for an on-premises Demo license in the
admin (the partner picked in the autocomplete), the licensing team approves and provisions it
and reads the activation code once, the onboarding mail arrives (locmem backend, eager tasks,
sent on commit), and a customer registers the infrastructure on /portal/ and downloads a
license file that verifies. Screenshots of the dashboards and the license page go to
$E2E_ARTIFACTS (default var/e2e-artifacts/, git-ignored).

No browser is ever downloaded: without playwright or chromium the test skips, and fails
instead when REQUIRE_SERVICES is set (CI).
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core import mail
from django.core.management import call_command

from licensing import services
from licensing.models import License
from partners import roles
from partners.services import today
from tests.factories import (
    ContactFactory,
    IncidentFactory,
    OpportunityFactory,
    PartnerFactory,
    RegionFactory,
    ReleaseFactory,
    TermFactory,
    UserFactory,
    provision_license,
)

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# Headless as root, and quiet: the machine has no internet, and without the networking flags
# Chromium keeps trying (and logging) its background connections.
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
RELEASE = "11.30.0"
TIMEOUT_MS = 20_000


@pytest.fixture
def browser_available():
    # First of the test's fixtures: skip before any data is made.
    # CI sets REQUIRE_SERVICES=1: there a missing browser fails the run instead of skipping.
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = (
            "needs Playwright for Python (requirements-dev.txt; it drives the system "
            "Chromium, `playwright install` is never needed)"
        )
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
    for stale in [*folder.glob("0?-*.png"), *folder.glob("failure-*.png")]:
        stale.unlink()  # this test's own screenshots of an earlier run
    return folder.resolve()


def user(username: str, role: str, **extra):
    person = UserFactory(username=username, roles=[role], **extra)
    person.set_password(PASSWORD)
    person.save()
    return person


def good_partner(name: str, region, *, country="PT", term_ends=None, manager=None):
    """In good standing today, with both contacts; its term ends on `term_ends`."""
    day = today()
    ends = term_ends or day + timedelta(days=264)
    partner = PartnerFactory(
        name=name,
        region=region,
        country=country,
        channel_manager=manager,
        sales_authorized_on=day - timedelta(days=400),
    )
    TermFactory(partner=partner, starts_on=ends - timedelta(days=364), ends_on=ends)
    slug = name.split()[0].lower()
    ContactFactory(
        partner=partner, role="financial", name=f"{name} finance", email=f"cfo@{slug}.example.com"
    )
    ContactFactory(
        partner=partner, role="technical", name=f"{name} tech", email=f"cto@{slug}.example.com"
    )
    return partner


def lived_in_desk(*, region, manager, team) -> None:
    """Other partners' licenses in several states, through the services, so the dashboards
    have something to count and chart besides the scenario's license."""
    day = today()
    architect = user("sam", roles.SOLUTION_ARCHITECT)
    provisioned = []
    for name, months in [
        ("Porto Digital Works", 1),
        ("Braga Apps Lda", 3),
        ("Coimbra Systems", 3),
        ("Aveiro Rapid Lda", 6),
        ("Faro Solutions", 9),
    ]:
        partner = good_partner(
            name, region, term_ends=day + relativedelta(months=months), manager=manager
        )
        provisioned.append(
            provision_license(partner, requested_by=manager, licensing_user=team, on=day)
        )
    porto, braga, coimbra = (lic.partner for lic in provisioned[:3])
    # A trial for Porto's prospect, ending in 30 days, whose deal is then won.
    opportunity = OpportunityFactory(partner=porto, solution_architect=architect)
    provision_license(
        porto,
        kind="TL",
        opportunity=opportunity,
        requested_by=architect,
        licensing_user=team,
        on=day,
    )
    opportunity.status, opportunity.closed_on = "won", day
    opportunity.save()
    # Approved ten days ago and still not provisioned: overdue.
    provision_license(
        braga,
        hosting="on_premises",
        requested_by=manager,
        licensing_user=team,
        on=day - timedelta(days=10),
        state="approved",
    )
    # Waiting for the licensing team.
    services.request_license(partner=coimbra, kind="DL", hosting="on_premises", by=manager, on=day)
    # Not in good standing: no term at all, and an open compliance incident.
    PartnerFactory(name="Setubal Lapsed Lda", region=region, country="PT")
    IncidentFactory(
        partner=good_partner("Evora Digital", region), opened_on=day - timedelta(days=4)
    )
    # Another region: the licensing team counts it, the channel manager of EMEA South does not.
    apac = RegionFactory(code="apac", name="Asia Pacific")
    priya = user("priya", roles.CHANNEL_MANAGER)
    apac.channel_managers.add(priya)
    tokyo = good_partner("Tokyo Rapid KK", apac, country="JP", manager=priya)
    services.request_license(partner=tokyo, kind="DL", by=priya, on=day)
    services.run_nightly(today=day)


@pytest.fixture
def desk(db):
    """The scenario's people and partner, and a desk with some history around them."""
    region = RegionFactory(code="emea-south", name="EMEA South")
    marta = user("marta", roles.CHANNEL_MANAGER, first_name="Marta", last_name="Sousa")
    region.channel_managers.add(marta)
    lena = user("lena", roles.LICENSING_TEAM, first_name="Lena", last_name="Lindqvist")
    ReleaseFactory(version=RELEASE, released_on=today() - timedelta(days=60))
    partner = good_partner(PARTNER, region, manager=marta)
    lived_in_desk(region=region, manager=marta, team=lena)
    return partner


def log_in(page, username: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def log_out(page) -> None:
    page.click("#logout-form button")  # a POST since Django 5
    page.wait_for_url("**/admin/logout/")


def shoot(page, folder: Path, name: str, shots: list[Path]) -> None:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    shots.append(path)


def mails_with(code: str, seconds: float = 10) -> list:
    # Sent on commit, in the live server's thread: normally there before the page loaded.
    deadline = time.monotonic() + seconds
    while True:
        found = [m for m in mail.outbox if code in m.body]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_license_from_the_request_to_the_verified_license_file(
    browser_available, live_server, desk, artifacts, tmp_path, capsys
):
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []
    contacts = sorted(desk.contacts.values_list("email", flat=True))
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
            # 1. The channel manager asks for an on-premises Demo license.
            page = new_page()
            log_in(page, "marta")
            expect(page.locator("#card-license-requests .dash-count")).to_have_text("1")
            shoot(page, artifacts, "01-dashboard-channel-manager.png", shots)
            page.goto("/admin/licensing/license/add/")
            page.click("#id_partner + .select2 .select2-selection")
            page.fill(".select2-search__field", "Lisbon")
            page.click(f".select2-results__option:has-text('{PARTNER}')")
            page.select_option("#id_kind", "DL")
            page.select_option("#id_hosting", "on_premises")
            page.click("input[name=_save]")
            expect(page.locator(".messagelist .success")).to_contain_text("added successfully")
            log_out(page)

            # 2. The licensing team approves and provisions it from the dashboard's queue.
            page = new_page()
            log_in(page, "lena")
            expect(page.locator("#card-license-requests .dash-count")).to_have_text("3")
            shoot(page, artifacts, "02-dashboard-licensing-team.png", shots)
            page.click("#card-license-requests a.dash-figure")
            page.click(f"#result_list a:has-text('{PARTNER}')")
            page.click("input[name=transition-approve]")
            expect(page.locator(".messagelist .success")).to_contain_text("approved")
            page.click("input[name=transition-provision]")
            code = page.locator("code.activation-code").inner_text().strip()
            assert len(code) == 19, code  # XXXX-XXXX-XXXX-XXXX

            # 3. The onboarding mail went to both contacts, with the code.
            onboarding = mails_with(code)
            assert sorted(to for m in onboarding for to in m.to) == contacts
            assert "licensing portal" in onboarding[0].body

            # The license page masks the code from now on.
            page.click(f"table a:has-text('{PARTNER}')")
            expect(page.locator(".field-activation")).to_contain_text(code[-4:])
            assert code not in page.content()
            expect(page.locator(".object-tools")).to_contain_text("Preview onboarding mail")
            shoot(page, artifacts, "03-license-provisioned.png", shots)

            # The mail preview: the real template, the code masked there too.
            page.click("text=Preview onboarding mail")
            expect(page.locator("#mail-subject")).to_contain_text("Register your infrastructure")
            mail_html = page.frame_locator("#mail-html")
            expect(mail_html.locator("code")).to_have_text(f"••••-••••-••••-{code[-4:]}")
            assert code not in page.content()
            shoot(page, artifacts, "04-mail-preview.png", shots)

            # 4. The customer registers the infrastructure and downloads the license file.
            portal = new_page(accept_downloads=True)
            portal.goto("/portal/")
            portal.fill("#id_activation_code", code)
            portal.fill("#id_registration_id", REGISTRATION_ID)
            portal.select_option("#id_platform_version", RELEASE)
            portal.click("button[type=submit]")
            portal.wait_for_url("**/portal/registered/")
            expect(portal.locator("h1")).to_have_text("Infrastructure registered")
            shoot(portal, artifacts, "05-portal-registered.png", shots)
            with portal.expect_download() as download_info:
                portal.click("text=Download the license file")
            download = download_info.value
            license_file = tmp_path / download.suggested_filename
            download.save_as(license_file)
        except Exception:
            for i, open_page in enumerate(pages):
                if not open_page.is_closed():
                    shoot(open_page, artifacts, f"failure-{i}.png", shots)
            raise
        finally:
            browser.close()
            with capsys.disabled():
                print("\ne2e screenshots:", *(f"  {path}" for path in shots), sep="\n")

    # 5. The file verifies with the public key, and says what was registered.
    out = StringIO()
    call_command("verify_license_file", str(license_file), stdout=out)
    claims = json.loads(out.getvalue().split("\n", 1)[1])
    lic = License.objects.select_related("infrastructure").get(partner=desk, policy__kind="DL")
    assert claims["license_id"] == lic.pk
    assert claims["infrastructure_id"] == REGISTRATION_ID
    assert (lic.state, lic.hosting) == ("active", "on_premises")
    assert lic.requested_by.username == "marta" and lic.provisioned_by.username == "lena"
    assert lic.infrastructure.registration_id == REGISTRATION_ID
    assert lic.activation_code_used_at is not None
