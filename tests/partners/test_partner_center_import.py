"""Opportunities from a Partner Center export: preview with per-row errors, keyed by the
Partner Center id, scoped to the importer's regions, status moves as by hand."""

import io
import re
from datetime import date

import openpyxl
import pytest

from licensing.models import License
from partners import roles
from partners.models import Opportunity
from partners.partner_center import NOT_YOUR_REGION
from tests.factories import (
    OpportunityFactory,
    PartnerFactory,
    UserFactory,
    partner_ready_for_licenses,
    provision_license,
)

pytestmark = pytest.mark.django_db

HEADERS = [
    "Opportunity ID",
    "Partner",
    "Customer name",
    "Customer country",
    "Registered",
    "Status",
    "Solution architect",
]
URL = "/admin/partners/opportunity/import/"


def csv_file(*rows):
    return io.BytesIO(("\n".join([",".join(HEADERS), *rows]) + "\n").encode())


def xlsx_file(*rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def preview(client, upload, fmt="csv"):
    page = client.get(URL).content.decode()
    options = re.findall(r'<option value="(\d+)"[^>]*>(\w+)</option>', page)
    formats = {label: value for value, label in options}
    upload.name = f"export.{fmt}"
    response = client.post(URL, {"import_file": upload, "format": formats[fmt], "resource": "0"})
    assert response.status_code == 200
    return response


def confirm(client, response):
    html = response.content.decode()
    assert 'name="import_file_name"' in html, "no confirmation offered"
    data = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    data.pop("csrfmiddlewaretoken", None)
    done = client.post("/admin/partners/opportunity/process_import/", data)
    assert done.status_code == 302, done.content[:500]
    return done


@pytest.fixture
def partners(region, apac):
    return {
        "mine": partner_ready_for_licenses(name="Lisbon Low-Code Lda", region=region, country="PT"),
        "other": PartnerFactory(name="Tokyo Rapid KK", region=apac, country="JP"),
    }


def test_channel_manager_imports_her_regions_rows_after_a_preview(
    client, channel_manager, partners, architect
):
    client.force_login(channel_manager)
    row = "PC-1,Lisbon Low-Code Lda,Atlantic Insurance,Portugal,2026-10-02,Approved,"
    response = preview(client, csv_file(row + architect.username))
    assert "Atlantic Insurance" in response.content.decode()
    assert not Opportunity.objects.exists()  # a preview changes nothing
    confirm(client, response)
    opportunity = Opportunity.objects.get(partner_center_id="PC-1")
    assert opportunity.partner == partners["mine"]
    assert opportunity.prospect_country.code == "PT"
    assert opportunity.status == "approved" and opportunity.solution_architect == architect
    assert opportunity.history.first().history_change_reason == "imported from Partner Center"


def test_a_row_of_another_region_is_refused_by_name(client, channel_manager, partners):
    client.force_login(channel_manager)
    response = preview(
        client,
        csv_file(
            "PC-1,Lisbon Low-Code Lda,Atlantic Insurance,PT,2026-10-02,Registered,",
            "PC-2,Tokyo Rapid KK,Globex Retail,JP,2026-10-03,Registered,",
        ),
    )
    html = response.content.decode()
    refusal = NOT_YOUR_REGION.format(partner="Tokyo Rapid KK", region="Asia Pacific")
    assert refusal in html
    assert 'name="import_file_name"' not in html  # nothing imported while a row is refused
    assert not Opportunity.objects.exists()


def test_a_second_import_updates_and_a_won_deal_awaits_conversion(
    client, licensing_user, partners, architect, release
):
    client.force_login(licensing_user)
    row = "PC-7,Lisbon Low-Code Lda,Atlantic Insurance,PT,2026-10-02,{},"
    confirm(client, preview(client, csv_file(row.format("Approved") + architect.username)))
    opportunity = Opportunity.objects.get(partner_center_id="PC-7")
    trial = provision_license(
        partners["mine"],
        kind="TL",
        opportunity=opportunity,
        requested_by=architect,
        licensing_user=licensing_user,
    )
    confirm(client, preview(client, csv_file(row.format("Won") + architect.username)))
    assert Opportunity.objects.filter(partner_center_id="PC-7").count() == 1
    opportunity.refresh_from_db()
    assert opportunity.status == "won" and opportunity.closed_on is not None
    assert opportunity.history.first().history_change_reason == "won"
    assert License.objects.awaiting_conversion().filter(pk=trial.pk).exists()


def test_a_status_that_cannot_follow_is_refused(client, licensing_user, partners):
    OpportunityFactory(partner=partners["mine"], partner_center_id="PC-9", status="lost")
    client.force_login(licensing_user)
    row = "PC-9,Lisbon Low-Code Lda,Atlantic,PT,2026-10-02,Won,"
    html = preview(client, csv_file(row)).content.decode()
    assert "the opportunity is lost here; it cannot become won" in html


def test_an_xlsx_export_imports_too(client, licensing_user, partners):
    client.force_login(licensing_user)
    day = date(2026, 10, 3)  # a date cell, as the spreadsheet keeps it
    upload = xlsx_file(["PC-3", "Tokyo Rapid KK", "Globex Retail", "JP", day, "Registered", ""])
    confirm(client, preview(client, upload, fmt="xlsx"))
    assert Opportunity.objects.get(partner_center_id="PC-3").registered_on == day


def test_auditor_and_architect_may_not_import(client, auditor, architect):
    for user in (auditor, architect):
        client.force_login(user)
        assert client.get(URL).status_code == 403


def test_the_documented_sample_imports(client, licensing_user):
    for name in ("Lisbon Low-Code Lda", "Iberia Apps S.L.", "Austin Automation LLC"):
        PartnerFactory(name=name)
    for username in ("architect", "architect2"):
        email = f"{username}@desk.example.com"
        UserFactory(username=username, email=email, roles=[roles.SOLUTION_ARCHITECT])
    client.force_login(licensing_user)
    with open("docs/partner-center-sample.csv", "rb") as sample:
        response = preview(client, io.BytesIO(sample.read()))
    confirm(client, response)
    assert Opportunity.objects.exclude(partner_center_id="").count() == 3
