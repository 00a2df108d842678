from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from partners import roles
from partners.admin_tools.filters import CountriesInUseFilter, PeopleInUseFilter
from partners.models import Partner, PartnershipTerm
from partners.validators import LINE_BREAK
from tests.factories import (
    TODAY,
    ContactFactory,
    IncidentFactory,
    OpportunityFactory,
    PartnerFactory,
    RegionFactory,
    TermFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def make_partners(n, region):
    for i in range(n):
        partner = PartnerFactory(region=region)
        TermFactory(partner=partner, fee_confirmed_on=None if i % 2 else TODAY - timedelta(days=90))
        ContactFactory(partner=partner)
        IncidentFactory(partner=partner)
        OpportunityFactory(partner=partner)


def changelist_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


@pytest.mark.parametrize(
    "url",
    [
        "/admin/partners/partner/",
        "/admin/partners/partner/?good_standing=no",
        "/admin/partners/opportunity/",
        "/admin/partners/contact/",
        "/admin/partners/partnershipterm/",
        "/admin/partners/complianceincident/",
        "/admin/partners/region/",
    ],
)
def test_changelist_query_count_does_not_grow_with_rows(
    client, licensing_user, url, django_capture_on_commit_callbacks
):
    region = RegionFactory()
    client.force_login(licensing_user)
    make_partners(5, region)
    small, _ = changelist_queries(client, url)
    # Committed, as between two visits: what the sidebar keeps of the data is read again.
    with django_capture_on_commit_callbacks(execute=True):
        make_partners(45, region)
    large, response = changelist_queries(client, url)
    assert small == large, f"{url}: {small} queries for 5 rows, {large} for 50"
    assert large <= 15


def test_partner_list_shows_standing_with_the_failing_condition_on_hover(client, licensing_user):
    partner = PartnerFactory(name="Unpaid Partner Lda")
    TermFactory(partner=partner, fee_confirmed_on=None)
    client.force_login(licensing_user)
    html = client.get("/admin/partners/partner/").content.decode()
    assert "Unpaid Partner Lda" in html
    assert "is neither confirmed nor waived" in html  # the title attribute of the badge


def test_partner_list_filters_by_standing(client, licensing_user, good_partner):
    bad = PartnerFactory(name="Never Signed")
    TermFactory(partner=bad, signed_on=None)
    client.force_login(licensing_user)
    html = client.get("/admin/partners/partner/?good_standing=no").content.decode()
    assert "Never Signed" in html and good_partner.name not in html
    html = client.get("/admin/partners/partner/?good_standing=yes").content.decode()
    assert "Never Signed" not in html and good_partner.name in html


def test_partner_search_finds_contacts_email(client, licensing_user):
    contact = ContactFactory(email="cfo@findme.example.com")
    client.force_login(licensing_user)
    html = client.get("/admin/partners/partner/?q=findme").content.decode()
    assert contact.partner.name in html


def partner_form_data(partner, **extra):
    data = {
        "name": partner.name,
        "status": partner.status,
        "country": partner.country.code,
        "region": partner.region_id,
        "channel_manager": "",
        "sales_authorized_on": "2026-01-01",
        "delivery_authorized_on": "",
        "contacts-TOTAL_FORMS": 0,
        "contacts-INITIAL_FORMS": 0,
        "terms-TOTAL_FORMS": 0,
        "terms-INITIAL_FORMS": 0,
        "incidents-TOTAL_FORMS": 0,
        "incidents-INITIAL_FORMS": 0,
        "licenses-TOTAL_FORMS": 0,
        "licenses-INITIAL_FORMS": 0,
    }
    data.update(extra)
    return data


def test_history_records_who_changed_a_partner_in_the_admin(client, licensing_user):
    partner = PartnerFactory(name="Before Rename")
    client.force_login(licensing_user)
    response = client.post(
        f"/admin/partners/partner/{partner.pk}/change/",
        partner_form_data(partner, name="After Rename"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = partner.history.latest()
    assert latest.name == "After Rename"
    assert latest.history_user == licensing_user
    history_page = client.get(f"/admin/partners/partner/{partner.pk}/history/").content.decode()
    assert licensing_user.username in history_page


def test_overlapping_terms_entered_together_are_refused_in_the_admin(client, licensing_user):
    partner = PartnerFactory()
    client.force_login(licensing_user)
    terms = {
        "terms-TOTAL_FORMS": 2,
        "terms-0-starts_on": "2026-01-01",
        "terms-0-ends_on": "2026-12-31",
        "terms-0-fee_amount": "1000",
        "terms-1-starts_on": "2026-06-01",
        "terms-1-ends_on": "2027-05-31",
        "terms-1-fee_amount": "1000",
    }
    response = client.post(
        f"/admin/partners/partner/{partner.pk}/change/", partner_form_data(partner, **terms)
    )
    assert response.status_code == 200  # the form comes back with the error, nothing saved
    assert "terms may not overlap" in response.content.decode()
    assert not PartnershipTerm.objects.filter(partner=partner).exists()


def test_overlap_with_a_saved_term_is_refused_in_the_admin(client, licensing_user, good_partner):
    existing = good_partner.terms.get()
    client.force_login(licensing_user)
    terms = {
        "terms-TOTAL_FORMS": 1,
        "terms-0-starts_on": str(existing.ends_on),
        "terms-0-ends_on": str(existing.ends_on + timedelta(days=200)),
        "terms-0-fee_amount": "1000",
    }
    response = client.post(
        f"/admin/partners/partner/{good_partner.pk}/change/",
        partner_form_data(good_partner, **terms),
    )
    assert "terms may not overlap" in response.content.decode()
    assert good_partner.terms.count() == 1


def test_channel_manager_sees_only_partners_of_own_regions(client):
    manager = UserFactory(username="marta", roles=[roles.CHANNEL_MANAGER])
    mine, other = RegionFactory(code="mine"), RegionFactory(code="other")
    mine.channel_managers.add(manager)
    visible = PartnerFactory(name="In My Region", region=mine)
    hidden = PartnerFactory(name="Someone Else's", region=other)
    client.force_login(manager)
    html = client.get("/admin/partners/partner/").content.decode()
    assert visible.name in html and hidden.name not in html
    assert client.get(f"/admin/partners/partner/{hidden.pk}/change/").status_code == 302


def test_auditor_reads_partners_but_cannot_change_them(client, auditor, good_partner):
    client.force_login(auditor)
    assert client.get("/admin/partners/partner/").status_code == 200
    response = client.post(
        f"/admin/partners/partner/{good_partner.pk}/change/",
        partner_form_data(good_partner, name="Hacked"),
    )
    assert response.status_code == 403
    assert Partner.objects.get(pk=good_partner.pk).name == good_partner.name


def test_solution_architect_sees_only_assigned_opportunities(client):
    architect = UserFactory(username="sam", roles=[roles.SOLUTION_ARCHITECT])
    OpportunityFactory(prospect_name="Assigned Prospect", solution_architect=architect)
    OpportunityFactory(prospect_name="Unassigned Prospect")
    client.force_login(architect)
    html = client.get("/admin/partners/opportunity/").content.decode()
    assert "Assigned Prospect" in html and "Unassigned Prospect" not in html


def test_row_checkboxes_are_djangos_markup_with_the_name_escaped(good_partner):
    """The list's row checkbox is written without the widget template; the actions'
    JavaScript and POST read the same markup, and a name cannot inject HTML."""
    from django.contrib import admin

    good_partner.name = 'Acme <b>"Apps"</b>'
    model_admin = admin.site.get_model_admin(Partner)
    ours = model_admin.action_checkbox(good_partner)
    assert ours == admin.ModelAdmin.action_checkbox(model_admin, good_partner)
    assert "<b>" not in ours and "&lt;b&gt;" in ours


def name_forms(partner):
    """(page, the rest of its form, the field): each admin form where a name that mails are
    made of is typed."""
    return [
        ("/admin/partners/region/add/", {"code": "north"}, "name"),
        (f"/admin/partners/partner/{partner.pk}/change/", partner_form_data(partner), "name"),
        (
            "/admin/partners/contact/add/",
            {"partner": partner.pk, "role": "financial", "email": "o@x.com"},
            "name",
        ),
        (
            "/admin/partners/opportunity/add/",
            {"partner": partner.pk, "prospect_country": "PT", "registered_on": "2026-11-01"},
            "prospect_name",
        ),
    ]


@pytest.mark.parametrize("form", range(4), ids=["region", "partner", "contact", "opportunity"])
def test_a_name_with_a_line_break_is_refused_in_the_admin_form(client, superuser, form):
    url, data, field = name_forms(PartnerFactory(name="Before"))[form]
    client.force_login(superuser)

    response = client.post(url, {**data, field: "O'Brien\u2028& Sons"})

    assert response.status_code == 200  # the form again, nothing saved
    assert response.context["adminform"].form.errors[field] == [LINE_BREAK]
    # The same form with the name on one line is saved.
    assert client.post(url, {**data, field: "O'Brien & Sons"}).status_code == 302


def test_the_filters_values_in_use_are_read_once_per_change_of_the_data(
    client, licensing_user, partner, architect, settings, django_capture_on_commit_callbacks
):
    """The prospects' countries and architects in the sidebar are read from every row in
    scope: kept until a committed change, then read again (a new country shows at once)."""
    settings.DASHBOARD_CACHE_SECONDS = 300
    OpportunityFactory(partner=partner, prospect_country="PT", solution_architect=architect)
    client.force_login(licensing_user)
    url = "/admin/partners/opportunity/"

    def sidebar():
        cl = client.get(url).context["cl"]
        (countries,) = [f for f in cl.filter_specs if isinstance(f, CountriesInUseFilter)]
        (people,) = [f for f in cl.filter_specs if isinstance(f, PeopleInUseFilter)]
        return [name for _, name in countries.lookup_choices(cl)], people.lookup_choices

    name = architect.get_full_name() or architect.get_username()
    assert sidebar() == (["Portugal"], [(architect.pk, name)])
    with CaptureQueriesContext(connection) as kept:
        client.get(url)
    assert not [q for q in kept.captured_queries if "DISTINCT" in q["sql"]]

    with django_capture_on_commit_callbacks(execute=True):
        OpportunityFactory(partner=partner, prospect_country="BR")
    assert sidebar()[0] == ["Brazil", "Portugal"]
