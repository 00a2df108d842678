"""End to end, in a real browser: the admin as the licensing team uses it every day.

Chromium (Debian's /usr/bin/chromium through Playwright's sync API, as in test_browser.py)
against pytest-django's live server: a license found by typing its number in the list's
search, an extension granted from its own page, a cancellation asked for and confirmed on a
page of its own, and the license list on a 390 px phone with each row's state in sight.
Screenshots go to $E2E_ARTIFACTS (default var/e2e-artifacts/, git-ignored).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from licensing import services
from licensing.choices import ExtensionReason, ExtensionState, LicenseState
from licensing.models import Extension, License
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
PASSWORD = "e2e-Daily-pass-7"  # noqa: S105 - a test user's password
TIMEOUT_MS = 20_000


@pytest.fixture
def browser_available():
    # CI sets REQUIRE_SERVICES=1: there a missing browser fails the run instead of skipping.
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
    for stale in folder.glob("daily-*.png"):
        stale.unlink()  # this test's own screenshots of an earlier run
    return folder.resolve()


def user(username: str, role: str):
    person = UserFactory(username=username, roles=[role])
    person.set_password(PASSWORD)
    person.save()
    return person


def partner_in_standing(name: str, region, *, term_ends):
    day = today()
    partner = PartnerFactory(
        name=name, region=region, country="PT", sales_authorized_on=day - timedelta(days=400)
    )
    TermFactory(partner=partner, starts_on=term_ends - timedelta(days=364), ends_on=term_ends)
    slug = name.split()[0].lower()
    ContactFactory(partner=partner, role="financial", email=f"cfo@{slug}.example.com")
    ContactFactory(partner=partner, role="technical", email=f"cto@{slug}.example.com")
    return partner


@pytest.fixture
def desk(db):
    """Licenses of several partners; one expired with an extension request waiting."""
    day = today()
    region = RegionFactory(code="emea-south", name="EMEA South")
    marta = user("marta", roles.CHANNEL_MANAGER)
    region.channel_managers.add(marta)
    lena = user("lena", roles.LICENSING_TEAM)
    ReleaseFactory(version="11.30.0", released_on=day - timedelta(days=60))
    licenses = {}
    for name in ("Porto Digital Works", "Braga Apps Lda", "Coimbra Systems Lda"):
        partner = partner_in_standing(name, region, term_ends=day + timedelta(days=200))
        licenses[name] = provision_license(
            partner, requested_by=marta, licensing_user=lena, on=day - timedelta(days=20)
        )
    # Faro's term ended ten days ago: the nightly run expired its license.
    faro = partner_in_standing("Faro Solutions", region, term_ends=day - timedelta(days=10))
    lapsed = provision_license(
        faro, requested_by=marta, licensing_user=lena, on=day - timedelta(days=40)
    )
    services.run_nightly(today=day)
    lapsed.refresh_from_db()
    assert lapsed.state == LicenseState.EXPIRED
    extension = services.request_extension(
        lapsed,
        by=marta,
        reason=ExtensionReason.LEGAL_CONSTRAINTS,
        requested_until=lapsed.ends_on + timedelta(days=60),
    )
    return {"licenses": licenses, "extension": extension}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_licensing_teams_day_in_the_browser(
    browser_available, live_server, desk, artifacts, capsys
):
    from playwright.sync_api import expect, sync_playwright

    braga = desk["licenses"]["Braga Apps Lda"]
    extension = desk["extension"]
    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        pages = []

        def new_page(width=1366, height=900):
            context = browser.new_context(
                base_url=live_server.url, viewport={"width": width, "height": height}
            )
            context.set_default_timeout(TIMEOUT_MS)
            pages.append(context.new_page())
            page = pages[-1]
            page.goto("/admin/login/?next=/admin/")
            page.fill("#id_username", "lena")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url("**/admin/")
            return page

        def shoot(page, name):
            path = artifacts / f"daily-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)

        try:
            # 1. Found by its number, typed as people say it.
            page = new_page()
            page.goto("/admin/licensing/license/")
            page.fill("#searchbar", f"dl-{braga.pk}")
            page.press("#searchbar", "Enter")
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text(f"DL-{braga.pk}")
            expect(rows.first).to_contain_text("Braga Apps Lda")
            shoot(page, "1-search-by-number")

            # 2. The extension decided on its own page: Grant, with the refusal's labelled
            # reason box beside it and no Save button.
            page.goto(f"/admin/licensing/extension/{extension.pk}/change/")
            expect(page.locator("label", has_text="Why is this extension refused?")).to_be_visible()
            expect(page.locator("input[name=_save]")).to_have_count(0)
            shoot(page, "2-extension-page")
            page.click("input[name=transition-grant]")
            expect(page.locator(".messagelist .success")).to_contain_text("granted")
            expect(page.locator(".messagelist .success")).to_contain_text("now ends on")

            # 3. A cancellation: the button names the license, a page asks, then it runs.
            page.goto(f"/admin/licensing/license/{braga.pk}/change/")
            page.click("input[name=transition-cancel]")
            expect(page.locator("#transition-confirm")).to_contain_text(
                "Cancel this license? Its applications go offline"
            )
            shoot(page, "3-cancel-confirmation")
            page.fill("#id_reason", "The partner asked to end the demo.")
            page.click("#transition-confirm input[type=submit]")
            expect(page.locator(".messagelist .success")).to_contain_text("cancelled")

            # 4. On a phone: each row's number and state in sight without scrolling.
            phone = new_page(width=390, height=844)
            phone.goto("/admin/licensing/license/")
            first_state = phone.locator("#result_list tbody tr td.field-state_badge").first
            expect(first_state).to_be_visible()
            box = first_state.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 390, box
            shoot(phone, "4-license-list-390")
            page.goto("/admin/licensing/license/")
            shoot(page, "5-license-list-1366")
        except Exception:
            for i, open_page in enumerate(pages):
                if not open_page.is_closed():
                    open_page.screenshot(path=str(artifacts / f"daily-failure-{i}.png"))
            raise
        finally:
            browser.close()
            with capsys.disabled():
                print("\ne2e screenshots:", *(f"  {path}" for path in shots), sep="\n")

    extension.refresh_from_db()
    assert extension.state == ExtensionState.GRANTED
    assert extension.decided_by.username == "lena"
    braga.refresh_from_db()
    assert braga.state == LicenseState.CANCELLED
    assert braga.history.latest().history_change_reason.endswith(
        "The partner asked to end the demo."
    )
    assert Extension.objects.count() == 1 and License.objects.count() == 4
