"""End to end, in a real browser: records a person reads and takes away.

The licensing team exports the license list (CSV chosen, opened and read: labelled headers,
the partner's name, the license number) and reads a license's history (no `None`, no
`pk=None`); a channel manager imports a Partner Center export, sees a preview in which a row
of another region's partner is refused by name, then imports her own rows.
Same setup as tests/e2e/test_browser.py (Debian's Chromium, no browser download; skipped
without it, failed under REQUIRE_SERVICES); screenshots in $E2E_ARTIFACTS.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from partners import roles
from partners.models import Opportunity
from tests.e2e.test_browser import (  # noqa: F401 - fixtures, used by name
    CHROMIUM,
    CHROMIUM_ARGS,
    PARTNER,
    RELEASE,
    TIMEOUT_MS,
    artifacts,
    browser_available,
    good_partner,
    log_in,
    log_out,
    user,
)
from tests.factories import PartnerFactory, RegionFactory, ReleaseFactory, provision_license

pytestmark = pytest.mark.e2e

PARTNER_CENTER = (
    "Opportunity ID,Partner,Customer name,Customer country,Registered,Status,Solution architect\n"
)


@pytest.fixture
def records(db):
    region = RegionFactory(code="emea-south", name="EMEA South")
    apac = RegionFactory(code="apac", name="Asia Pacific")
    marta = user("marta", roles.CHANNEL_MANAGER, first_name="Marta", last_name="Sousa")
    region.channel_managers.add(marta)
    lena = user("lena", roles.LICENSING_TEAM, first_name="Lena", last_name="Lindqvist")
    ReleaseFactory(version=RELEASE)
    partner = good_partner(PARTNER, region, manager=marta)
    PartnerFactory(name="Tokyo Rapid KK", region=apac, country="JP")
    return provision_license(partner, requested_by=marta, licensing_user=lena)


def upload(tmp_path: Path, name: str, rows: list[str]) -> str:
    path = tmp_path / name
    path.write_text(PARTNER_CENTER + "\n".join(rows) + "\n")
    return str(path)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_exports_history_and_a_partner_center_import_read_as_people_expect(
    browser_available,  # noqa: F811 - the fixture imported above
    live_server,
    records,
    artifacts,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    from playwright.sync_api import expect, sync_playwright

    lic = records
    number = f"{lic.policy.kind}-{lic.pk}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1366, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            # 1. The license list exported: CSV is already chosen; the file reads as a table.
            log_in(page, "lena")
            page.goto("/admin/licensing/license/export/")
            assert page.locator("#id_format option:checked").inner_text() == "csv"
            with page.expect_download() as download:
                page.locator('.submit-row input[type="submit"]').click()
            body = Path(download.value.path()).read_text(encoding="utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(body)))
            assert {"License", "Partner", "Policy", "Requested by", "Ends on"} <= set(rows[0])
            row = next(r for r in rows if r["License"] == number)
            assert row["Partner"] == PARTNER and row["Requested by"] == "Marta Sousa"
            # The CSV as a person opens it, for the record.
            page.set_content(f"<pre>{body}</pre>")
            page.screenshot(path=str(artifacts / "records-1-export.png"), full_page=True)

            # 2. The license's history: who, when, what changed, why; no None anywhere.
            page.goto(f"/admin/licensing/license/{lic.pk}/history/")
            table = page.locator("#change-history")
            expect(table).to_contain_text("Lena Lindqvist")
            expect(table).to_contain_text("provisioned")
            text = table.inner_text()
            assert "None" not in text and "pk=None" not in text
            assert "history_change_reason" not in page.content().lower()
            page.screenshot(path=str(artifacts / "records-2-history.png"), full_page=True)
            log_out(page)

            # 3. A Partner Center export: a preview, one row refused by name, nothing saved.
            log_in(page, "marta")
            page.goto("/admin/partners/opportunity/import/")
            mixed = upload(
                tmp_path,
                "mixed.csv",
                [
                    f"PC-1,{PARTNER},Atlantic Insurance,PT,2026-10-02,Registered,",
                    "PC-2,Tokyo Rapid KK,Globex Retail,JP,2026-10-03,Registered,",
                ],
            )
            page.set_input_files("#id_import_file", mixed)
            page.select_option("#id_format", label="csv")
            page.locator('.submit-row input[type="submit"]').click()
            expect(page.locator("#content")).to_contain_text(
                "Tokyo Rapid KK is a partner of Asia Pacific, not of your regions"
            )
            page.screenshot(path=str(artifacts / "records-3-import-refused.png"), full_page=True)

            # 4. Her own rows: previewed, then imported.
            page.goto("/admin/partners/opportunity/import/")
            mine = upload(
                tmp_path,
                "mine.csv",
                [f"PC-1,{PARTNER},Atlantic Insurance,PT,2026-10-02,Registered,"],
            )
            page.set_input_files("#id_import_file", mine)
            page.select_option("#id_format", label="csv")
            page.locator('.submit-row input[type="submit"]').click()
            expect(page.locator("#content")).to_contain_text("Atlantic Insurance")
            page.screenshot(path=str(artifacts / "records-4-import-preview.png"), full_page=True)
            page.locator('input[name="confirm"], input[value="Confirm import"]').first.click()
            expect(page.locator(".messagelist")).to_contain_text("1 new")
        except Exception:
            page.screenshot(path=str(artifacts / "failure-records.png"), full_page=True)
            raise
        finally:
            browser.close()
    # Outside the browser's event loop: the database, as the import left it.
    imported = Opportunity.objects.values_list("partner_center_id", "partner__name")
    assert list(imported) == [("PC-1", PARTNER)]  # the refused preview saved nothing
