"""Usage in the admin: the chart on license and infrastructure pages (within the user's
scope only), the license list's "Usage" column and filters, the usage reports as received,
with a query count that does not grow with the licenses."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from partners import roles
from tests.factories import TODAY, UserFactory, partner_ready_for_licenses
from tests.licensing.usage_data import licensed, report

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

LICENSES = reverse("admin:licensing_license_changelist")
REPORTS = reverse("admin:licensing_usagereport_changelist")


def license_page(lic):
    return reverse("admin:licensing_license_change", args=[lic.pk])


def infrastructure_page(infra):
    return reverse("admin:licensing_infrastructure_change", args=[infra.pk])


@pytest.fixture
def world(partner, apac, channel_manager):
    """In the channel manager's region: a Demo license over its AO limit, one near its user
    limit, one well within, one silent for 10 days, one on an infrastructure not registered
    yet, an expired one over its limit; in Asia Pacific, one over its limit."""
    by = channel_manager
    over = licensed(partner, by=by)
    report(over, 2, aos=2300)
    report(over, 1, aos=2500, disk="6.2", internal=40)
    near = licensed(partner, by=by)
    report(near, 1, aos=1200, internal=85)
    fine = licensed(partner, by=by, kind="IL")
    report(fine, 3, aos=90_000, internal=20)  # an IL has no AO limit
    silent = licensed(partner, by=by)
    report(silent, 10, aos=2600)  # over, but too old to count
    unregistered = licensed(partner, by=by, registered=False)
    expired = licensed(partner, by=by, state="expired")
    report(expired, 1, aos=5000)
    far = partner_ready_for_licenses(region=apac, name="Far Away Pte", country="SG")
    apac_over = licensed(far, by=by)
    report(apac_over, 1, aos=9000, countries={"SG": 10})
    return {
        "over": over,
        "near": near,
        "fine": fine,
        "silent": silent,
        "unregistered": unregistered,
        "expired": expired,
        "apac_over": apac_over,
    }


def listed(client, **params) -> set[int]:
    response = client.get(LICENSES, params)
    assert response.status_code == 200
    assert "?e=1" not in response.get("Location", "")
    return {lic.pk for lic in response.context["cl"].result_list}


def ids(world, *names) -> set[int]:
    return {world[name].pk for name in names}


def test_the_filters_select_over_near_and_unreported(client, world, licensing_user):
    client.force_login(licensing_user)
    assert listed(client, usage="over") == ids(world, "over", "apac_over")
    assert listed(client, usage="near") == ids(world, "near")
    # Silent for 10 days; the unregistered one has nothing to report yet.
    assert listed(client, usage="unreported") == ids(world, "silent")


def test_a_channel_manager_filters_her_regions_licenses_only(client, world, channel_manager):
    client.force_login(channel_manager)
    assert listed(client, usage="over") == ids(world, "over")
    assert listed(client) & ids(world, "apac_over") == set()


def test_the_usage_column_names_the_highest_share_and_sorts_by_it(client, world, licensing_user):
    client.force_login(licensing_user)
    response = client.get(LICENSES)
    html = response.content.decode()
    # 2500 of 2400 AOs: 104 %; the tooltip names every figure against its limit.
    assert "104 % AOs" in html
    assert "AOs: 2500 of 2400 (104 %); disk: 6.2 GB of 7 GB (89 %)" in html
    assert "85 % internal users" in html

    column = response.context["cl"].list_display.index("usage")
    descending = client.get(LICENSES, {"o": f"-{column}"}).context["cl"].result_list
    ranked = [lic.pk for lic in descending][:3]
    assert ranked == [world["apac_over"].pk, world["expired"].pk, world["silent"].pk]
    ascending = [
        lic.pk for lic in client.get(LICENSES, {"o": f"{column}"}).context["cl"].result_list
    ]
    # No report at all sorts last going down and first going up.
    assert ascending[0] == world["unregistered"].pk


def chart_measures(html: str) -> list[str]:
    return re.findall(r'class="usage-chart"[^>]*data-measure="(\w+)"', html)


def test_the_license_page_charts_the_last_60_days_against_the_limits(client, world, licensing_user):
    client.force_login(licensing_user)
    html = client.get(license_page(world["over"])).content.decode()
    assert chart_measures(html) == [
        "application_objects",
        "disk_gb",
        "internal_users",
        "external_users",
    ]
    assert "AOs, limit 2,400" in html  # the limit drawn, and said
    assert 'class="usage-limit"' in html
    assert f'data-day="{TODAY - timedelta(1):%Y-%m-%d}" data-value="2,500"' in html
    assert "Reported for" in html and "highest: AOs: 2500 of 2400 (104 %)" in html


def test_the_infrastructure_page_charts_against_its_current_license(client, world, licensing_user):
    client.force_login(licensing_user)
    html = client.get(infrastructure_page(world["near"].infrastructure)).content.decode()
    assert len(chart_measures(html)) == 4
    assert "internal users, limit 100" in html


def test_a_license_without_reports_says_so(client, world, licensing_user):
    client.force_login(licensing_user)
    html = client.get(license_page(world["unregistered"])).content.decode()
    assert "No usage reported yet." in html
    assert chart_measures(html) == []


def test_a_channel_manager_sees_the_chart_of_her_regions_licenses_only(
    client, world, channel_manager
):
    client.force_login(channel_manager)
    mine = client.get(license_page(world["over"]))
    assert mine.status_code == 200 and len(chart_measures(mine.content.decode())) == 4
    theirs = world["apac_over"]
    for url in (license_page(theirs), infrastructure_page(theirs.infrastructure)):
        response = client.get(url)
        # The admin's answer for an object that does not exist: back to the index.
        assert response.status_code in (302, 403, 404), url
        assert chart_measures(response.content.decode()) == []
        followed = client.get(url, follow=True).content.decode()
        assert "9000" not in followed and "Far Away" not in followed


def test_an_architect_sees_no_chart_of_a_license_not_assigned_to_him(client, world, architect):
    client.force_login(architect)
    response = client.get(license_page(world["over"]))
    assert response.status_code in (302, 403, 404)
    assert chart_measures(response.content.decode()) == []


def test_usage_reports_are_listed_scoped_and_searchable_but_never_edited(
    client, world, licensing_user, channel_manager
):
    client.force_login(licensing_user)
    registration_id = world["near"].infrastructure.registration_id
    response = client.get(REPORTS, {"q": registration_id})
    assert [r.infrastructure_id for r in response.context["cl"].result_list] == [
        world["near"].infrastructure_id
    ]
    one = response.context["cl"].result_list[0]
    page = client.get(reverse("admin:licensing_usagereport_change", args=[one.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(reverse("admin:licensing_usagereport_add")).status_code == 403
    before = one.application_objects
    client.post(
        reverse("admin:licensing_usagereport_change", args=[one.pk]), {"application_objects": 1}
    )
    one.refresh_from_db()
    assert one.application_objects == before

    client.force_login(channel_manager)
    shown = {r.infrastructure_id for r in client.get(REPORTS).context["cl"].result_list}
    assert world["apac_over"].infrastructure_id not in shown
    assert world["over"].infrastructure_id in shown


def test_the_usage_list_costs_the_same_queries_for_5_and_30_licenses(
    client, partner, channel_manager, licensing_user, django_assert_max_num_queries
):
    client.force_login(licensing_user)

    def add(n):
        for _ in range(n):
            lic = licensed(partner, by=channel_manager)
            report(lic, 1, aos=2000)
            report(lic, 2, aos=2500)

    def queries(params):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LICENSES, params).status_code == 200
        return len(captured)

    pages = [{}, {"usage": "over"}, {"usage": "near"}, {"usage": "unreported"}, {"o": "-11"}]
    add(5)
    small = [queries(params) for params in pages]
    add(25)
    large = [queries(params) for params in pages]
    assert large == small
    with django_assert_max_num_queries(max(small)):
        client.get(LICENSES, {"usage": "near"})


def test_a_second_architect_or_auditor_reads_without_error(client, world, auditor):
    client.force_login(auditor)
    assert client.get(license_page(world["over"])).status_code == 200
    assert client.get(REPORTS).status_code == 200
    other = UserFactory(username="sasha", roles=[roles.SOLUTION_ARCHITECT])
    client.force_login(other)
    assert client.get(REPORTS).status_code == 200
