"""A list's count of rows: as many as it holds, whoever looks and whatever changed; on
PostgreSQL, read from the counts the database keeps (partners.row_counts) when the list is
unfiltered, instead of counting every row in scope."""

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import services
from licensing.models import License, Notification
from partners import roles, row_counts
from partners.admin_tools.audited import KeptCountMixin
from partners.models import ComplianceIncident, Region, RowCount
from partners.scoping import carries_region
from tests.factories import TODAY, RegionFactory, UserFactory
from tests.helpers import needs_postgresql
from tests.security.world import build

pytestmark = pytest.mark.django_db

# The lists whose rows are counted by the database (the tables of migrations partners/0014,
# licensing/0028 and ipp/0005).
COUNTED = {
    "partners_partner",
    "partners_contact",
    "partners_partnershipterm",
    "partners_opportunity",
    "partners_complianceincident",
    "licensing_license",
    "licensing_extension",
    "licensing_infrastructure",
    "licensing_notification",
    "licensing_usagereport",
    "ipp_application",
    "ipp_deploymentpermission",
    "ipp_deploymentcheck",
}


def counted_admins():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.db_table in COUNTED and isinstance(model_admin, KeptCountMixin)
    ]


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def assert_lists_count_their_rows(client, users):
    """Each user's every counted list says as many rows as their scope holds."""
    for user in users:
        client.force_login(user)
        for model, model_admin in counted_admins():
            response = client.get(changelist(model))
            if response.status_code == 403:  # not a list of theirs (IPP checks: the team's)
                continue
            assert response.status_code == 200, (user, model)
            request = response.wsgi_request
            expected = model_admin.get_queryset(request).count()
            assert response.context["cl"].result_count == expected, (user.username, model)


def kept_by_table_and_region() -> dict:
    rows = RowCount.objects.values_list("table_name", "region_id").annotate(total=Sum("n"))
    return {(table, region): total for table, region, total in rows if total}


def actual_by_table_and_region() -> dict:
    found = {}
    for model, _ in counted_admins():
        table = model._meta.db_table
        if carries_region(model):
            rows = model.objects.values_list("region_id").annotate(n=Count("pk")).order_by()
            found.update({(table, region): n for region, n in rows})
        elif n := model.objects.count():
            found[(table, None)] = n
    return found


@pytest.fixture
def world():
    return build()


def test_every_list_says_how_many_rows_it_holds_for_every_role(world, client):
    assert len(counted_admins()) == len(COUNTED)
    users = [world.users[name] for name in ("lt", "auditor", "cm_a", "sa_a", "cm_b", "sa_b")]
    assert_lists_count_their_rows(client, users)
    # After the rows changed: a partner moved to another region, a license gone.
    partner = world.regions["a"]["partner"]
    moved_to = RegionFactory(code="region-c")
    manager = UserFactory(username="cm_c", roles=[roles.CHANNEL_MANAGER])
    moved_to.channel_managers.add(manager)
    partner.region, partner.channel_manager = moved_to, None
    partner.save()
    Notification.objects.filter(license__partner=partner).delete()
    assert_lists_count_their_rows(client, [*users, manager])


def test_the_counts_kept_follow_every_insert_delete_and_move(world):
    needs_postgresql("the counts are kept by triggers on PostgreSQL")
    assert kept_by_table_and_region() == actual_by_table_and_region()
    partner = world.regions["a"]["partner"]
    partner.region = RegionFactory(code="region-c")
    partner.channel_manager = None
    partner.save()
    Notification.objects.filter(license__partner=partner).delete()
    services.run_nightly(today=TODAY.replace(year=TODAY.year + 1))  # expiries, mails, a fold
    assert kept_by_table_and_region() == actual_by_table_and_region()
    # Folded by the night: one row per table and region, the same sums.
    assert RowCount.objects.count() == len(kept_by_table_and_region())


def test_fold_leaves_one_row_per_table_and_region_with_the_same_sums(world):
    needs_postgresql("the counts are kept by triggers on PostgreSQL")
    Region.objects.get(code="region-b").partners.get().licenses.first().delete()
    before = kept_by_table_and_region()
    assert RowCount.objects.count() > len(before)
    folded = row_counts.fold()
    assert folded > len(before)
    assert kept_by_table_and_region() == before == actual_by_table_and_region()
    assert RowCount.objects.count() == len(before)


def count_queries(context, table: str) -> list[str]:
    return [
        q["sql"]
        for q in context.captured_queries
        if q["sql"].startswith("SELECT COUNT(*)") and f'FROM "{table}"' in q["sql"]
    ]


@pytest.mark.parametrize("who", ["lt", "manager"])
def test_an_unfiltered_list_reads_its_count_kept_and_a_filtered_one_counts(world, client, who):
    needs_postgresql("the counts are kept by triggers on PostgreSQL")
    user = world.users["lt" if who == "lt" else "cm_a"]
    client.force_login(user)
    url = changelist(License)
    with CaptureQueriesContext(connection) as unfiltered:
        response = client.get(url)
    shown = 6 if who == "lt" else 3
    assert response.context["cl"].result_count == shown
    assert f"{shown} licenses" in response.content.decode()
    assert count_queries(unfiltered, "licensing_license") == []
    with CaptureQueriesContext(connection) as filtered:
        response = client.get(url, {"state__exact": "active"})
    active = License.objects.filter(state="active")
    if who != "lt":
        active = active.filter(region__code="region-a")
    assert response.context["cl"].result_count == active.count() < shown
    assert count_queries(filtered, "licensing_license")
    # A search counts too.
    response = client.get(url, {"q": "no such license"})
    assert response.context["cl"].result_count == 0


@pytest.mark.parametrize("model", [Notification, ComplianceIncident])
def test_a_channel_manager_s_mails_and_incidents_are_read_by_region_and_not_counted(
    world, client, model
):
    """They carry their partner's region: her list shows her regions' rows only, and its
    count is the one kept (no COUNT over the table)."""
    needs_postgresql("the counts are kept by triggers on PostgreSQL")
    client.force_login(world.users["cm_a"])
    mine = model.objects.filter(partner__region__code="region-a").count()
    assert 0 < mine < model.objects.count()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(changelist(model))
    assert response.context["cl"].result_count == mine
    assert count_queries(queries, model._meta.db_table) == []


def test_the_region_list_counts_each_region_s_partners_after_one_moves(world, client):
    """The region list's partner column: from the counts kept on PostgreSQL (no count over
    the partners), counted elsewhere; right after a partner moves either way."""
    client.force_login(world.users["lt"])
    url = changelist(Region)

    def shown() -> dict[str, int]:
        with CaptureQueriesContext(connection) as queries:
            rows = client.get(url).context["cl"].result_list
        if connection.vendor == "postgresql":
            region_queries = [
                q["sql"] for q in queries.captured_queries if "partner_count" in q["sql"]
            ]
            assert region_queries and all("partners_rowcount" in q for q in region_queries)
        return {region.code: region.partner_count for region in rows}

    assert shown() == {"region-a": 1, "region-b": 1}
    partner = world.regions["a"]["partner"]
    partner.region = Region.objects.get(code="region-b")
    partner.channel_manager = None
    partner.save()
    assert shown() == {"region-a": 0, "region-b": 2}
