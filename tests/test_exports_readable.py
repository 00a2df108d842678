"""Exports and history a person can read: labelled columns, names instead of ids, the
license number, dates as dates, CSV chosen; history pages without raw headers or `pk=None`."""

import csv
import io
import re

import openpyxl
import pytest

from licensing.models import License
from partners.models import Partner
from tests.security.world import build
from tests.test_exports import export

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build()


def rows_of(response):
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_license_export_names_the_partner_the_policy_and_the_people(client, world):
    client.force_login(world.users["lt"])
    rows = rows_of(export(client, "/admin/licensing/license/", "?state__exact=active"))
    lic = License.objects.filter(state="active").select_related("policy", "partner").first()
    row = next(r for r in rows if r["ID"] == str(lic.pk))
    assert row["License"] == f"{lic.policy.kind}-{lic.pk}"
    assert row["Partner"] == lic.partner.name
    assert row["Policy"] == str(lic.policy)
    assert row["Requested by"] == lic.requested_by.get_full_name() or lic.requested_by.username
    assert row["State"] == "Active"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["Ends on"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row["Approved at"])
    assert "Activation code" not in row


def test_export_form_preselects_csv(client, world):
    client.force_login(world.users["auditor"])
    html = client.get("/admin/licensing/license/export/").content.decode()
    assert re.search(r'<option value="\d+" selected>csv</option>', html)


def test_xlsx_export_keeps_dates_as_date_cells(client, world):
    client.force_login(world.users["lt"])
    response = export(client, "/admin/licensing/license/", "?state__exact=active", fmt="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    headers = [c.value for c in sheet[1]]
    ends = [row[headers.index("Ends on")] for row in sheet.iter_rows(min_row=2)]
    assert ends and all(c.is_date for c in ends)


def test_license_export_queries_do_not_grow_with_the_rows(
    client, world, django_assert_max_num_queries
):
    client.force_login(world.users["lt"])
    with django_assert_max_num_queries(25):
        export(client, "/admin/licensing/license/")


def test_history_export_says_who_when_what_changed_and_why(client, world):
    client.force_login(world.users["auditor"])
    response = client.get("/admin/licensing/license/export-history/?state__exact=active")
    rows = rows_of(response)
    assert list(rows[0]) == ["ID", "Record", "When (UTC)", "Who", "What", "What changed", "Why"]
    provisioned = [r for r in rows if r["Why"] == "provisioned"]
    assert provisioned and all("State: Approved → Active" in r["What changed"] for r in provisioned)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", r["When (UTC)"]) for r in rows)
    assert "None" not in response.content.decode()
    # One line per history row, none twice.
    active = License.objects.filter(state="active")
    assert len(rows) == License.history.filter(id__in=active.values("pk")).count()


def test_license_history_page_is_readable(client, world):
    client.force_login(world.users["lt"])
    lic = License.objects.filter(state="active").first()
    html = client.get(f"/admin/licensing/license/{lic.pk}/history/").content.decode()
    assert "history_change_reason" not in html.lower()
    assert "pk=None" not in html and ">None<" not in html
    assert (
        "Why" in html
        and "State:" in html
        and "Approved → Active" in html.replace("&nbsp;&rarr;&nbsp;", " → ")
    )
    # No microseconds: "2026-12-01 10:11", never "10:11:33.123456".
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", html)


def test_partner_history_includes_its_terms_contacts_and_incidents(client, world):
    client.force_login(world.users["auditor"])
    partner = Partner.objects.get(name="Partner A")
    html = client.get(f"/admin/partners/partner/{partner.pk}/history/").content.decode()
    assert "partnership term" in html
    assert "contact" in html
    assert "compliance incident" in html


def test_a_save_that_changed_nothing_says_so(client, world):
    partner = Partner.objects.get(name="Partner A")
    partner._change_reason = "saved again"
    partner.save()
    client.force_login(world.users["auditor"])
    html = client.get(f"/admin/partners/partner/{partner.pk}/history/").content.decode()
    assert "Saved, nothing changed: partner Partner A" in html
