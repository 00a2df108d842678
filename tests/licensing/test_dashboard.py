"""The admin index dashboard: every number is the row count of the list it links to, for
the user who sees it; channel managers see their regions only; the query count is flat."""

import re
from datetime import date, timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ipp.models import DeploymentPermission
from licensing.choices import ExtensionReason
from licensing.models import Extension, Infrastructure, License, NightlyRun
from partners import dashboard_cache, roles
from tests.factories import (
    TODAY,
    OpportunityFactory,
    PartnerFactory,
    UserFactory,
    make_license,
    partner_ready_for_licenses,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

INDEX = "/admin/"
FIGURE = re.compile(
    r'<a class="dash-figure" data-card="(?P<card>[\w-]+)" href="(?P<url>[^"]+)"'
    r'[^>]*>\s*<span class="dash-count">(?P<count>\d+)</span>'
)
BAR = re.compile(
    r'<a href="(?P<url>[^"]+)"><rect [^>]*data-kind="(?P<kind>\w+)" '
    r'data-month="(?P<month>[\d-]+)" data-count="(?P<count>\d+)">'
    r"<title>(?P<title>[^<]+)</title>"
)


@pytest.fixture
def apac_manager(apac):
    manager = UserFactory(username="priya", roles=[roles.CHANNEL_MANAGER])
    apac.channel_managers.add(manager)
    return manager


def populate(region, by, *, tag: str, copies: int = 1, architect=None) -> None:
    """One of everything a card counts, `copies` times, in `region`."""
    for i in range(copies):
        partner = partner_ready_for_licenses(region=region, name=f"{tag} partner {i}")
        make_license(partner, state="requested", by=by)
        make_license(partner, "IL", state="approved", by=by, due=TODAY - timedelta(days=6))
        make_license(partner, state="approved", by=by, due=TODAY + timedelta(days=2))
        make_license(partner, by=by, ends_on=TODAY + timedelta(days=10))
        make_license(partner, "IL", by=by, ends_on=TODAY + timedelta(days=45))
        won = OpportunityFactory(
            partner=partner, status="won", closed_on=TODAY, solution_architect=architect
        )
        make_license(partner, "TL", by=by, ends_on=TODAY + timedelta(days=80), opportunity=won)
        make_license(partner, by=by, ends_on=TODAY + timedelta(days=200))
        expired = make_license(
            partner, "IL", state="expired", by=by, ends_on=TODAY - timedelta(days=3)
        )
        Extension.objects.create(
            license=expired,
            reason=ExtensionReason.LEGAL_CONSTRAINTS,
            requested_until=TODAY + timedelta(days=30),
            requested_by=by,
            requested_on=TODAY,
        )
        source = Infrastructure.objects.create(
            name=f"{tag} source {i}", owner_partner=partner, hosting="on_premises"
        )
        target = Infrastructure.objects.create(
            name=f"{tag} target {i}", owner_partner=partner, hosting="dedicated_cloud"
        )
        DeploymentPermission.objects.create(
            source=source, target=target, requested_by=by, requested_on=TODAY
        )
        PartnerFactory(region=region, name=f"{tag} lapsed {i}")  # no term: not in good standing


def figures(response) -> list[tuple[str, str, int]]:
    html = response.content.decode()
    return [(m["card"], unescape(m["url"]), int(m["count"])) for m in FIGURE.finditer(html)]


def by_card(response) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for card, _, count in figures(response):
        found.setdefault(card, []).append(count)
    return found


def changelist_count(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    # Not an "incorrect lookup" redirect (?e=1): the changelist applied every parameter.
    assert "?e=1" not in response.get("Location", ""), url
    return response.context["cl"].result_count


@pytest.fixture
def two_regions(region, apac, channel_manager, apac_manager, architect):
    populate(region, channel_manager, tag="South", architect=architect)
    populate(apac, apac_manager, tag="Apac", copies=2)
    NightlyRun.objects.create(
        day=TODAY,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        status="finished",
        counts={"renewed": 4, "expired": 1, "reminders": 0},
    )


@pytest.mark.parametrize("who", ["licensing_user", "channel_manager", "architect", "auditor"])
def test_every_dashboard_number_is_the_row_count_of_the_list_it_links_to(
    client, request, two_regions, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)

    response = client.get(INDEX)

    assert response.status_code == 200
    found = figures(response)
    # Which cards depend on the role's permissions; the license ones every role here has.
    assert {card for card, _, _ in found} >= {
        "license-requests",
        "provisioning-overdue",
        "expiring",
        "trials-awaiting-conversion",
        "extension-requests",
        "partners-not-in-good-standing",
    }
    for card, url, count in found:
        assert changelist_count(client, url) == count, (card, url)


def test_the_licensing_team_counts_every_region_and_a_channel_manager_only_hers(
    client, two_regions, licensing_user, channel_manager
):
    client.force_login(licensing_user)
    team = by_card(client.get(INDEX))
    client.force_login(channel_manager)
    mine = by_card(client.get(INDEX))

    # One of everything in EMEA South, two in Asia Pacific.
    assert team == {
        "license-requests": [3],
        "provisioning-overdue": [3],
        "expiring": [3, 6, 9],  # within 30, 60 and 90 days
        "trials-awaiting-conversion": [3],
        "extension-requests": [3],
        "ipp-permission-requests": [3],
        "partners-not-in-good-standing": [3],
        "usage-over-limit": [0],  # no usage reported here: test_usage_dashboard counts them
        "usage-near-limit": [0],
        "usage-unreported": [0],
        "mail": [0, 0],  # failed, pending over an hour: the licensing team's card only
    }
    assert mine == {
        "license-requests": [1],
        "provisioning-overdue": [1],
        "expiring": [1, 2, 3],
        "trials-awaiting-conversion": [1],
        "extension-requests": [1],
        "ipp-permission-requests": [1],
        "partners-not-in-good-standing": [1],
        "usage-over-limit": [0],
        "usage-near-limit": [0],
        "usage-unreported": [0],
    }


def test_a_solution_architect_counts_the_trials_assigned_to_him(client, two_regions, architect):
    client.force_login(architect)

    mine = by_card(client.get(INDEX))

    # His one trial (EMEA South), ending in 80 days, deal won; nobody else's licenses.
    assert mine["trials-awaiting-conversion"] == [1]
    assert mine["expiring"] == [0, 0, 1]
    assert mine["license-requests"] == mine["provisioning-overdue"] == [0]


def test_overdue_licenses_and_failing_partners_are_listed_with_why(
    client, two_regions, channel_manager
):
    client.force_login(channel_manager)

    html = client.get(INDEX).content.decode()

    overdue = License.objects.get(
        partner__name="South partner 0", state="approved", policy__kind="IL"
    )
    # Due 2026-11-22 (a Sunday); Mon 23 to Fri 27 and Sat 28 -> 5 business days in Portugal.
    assert f'href="/admin/licensing/license/{overdue.pk}/change/"' in html
    assert "5 business days late · due 2026-11-22" in html
    assert "South lapsed 0" in html
    assert "no partnership term covers 2026-11-28" in html
    assert "Apac" not in html  # the other region's partners and licenses stay hidden


def test_the_last_nightly_run_shows_for_those_who_may_see_runs(
    client, two_regions, licensing_user, channel_manager
):
    client.force_login(licensing_user)
    html = client.get(INDEX).content.decode()
    assert 'id="card-nightly-run"' in html
    assert 'href="/admin/licensing/nightlyrun/"' in html
    assert "<dt>renewed</dt><dd>4</dd>" in html
    assert "reminders</dt>" not in html  # nothing done is not listed

    client.force_login(channel_manager)  # no view permission on nightly runs
    assert 'id="card-nightly-run"' not in client.get(INDEX).content.decode()


def test_a_user_without_license_permission_sees_no_license_card(client, two_regions):
    reader = UserFactory(username="partner-reader")
    reader.user_permissions.add(
        Permission.objects.get(codename="view_partner", content_type__app_label="partners")
    )
    client.force_login(reader)

    response = client.get(INDEX)

    assert response.status_code == 200
    assert set(by_card(response)) == {"partners-not-in-good-standing"}
    assert 'id="expiry-chart"' not in response.content.decode()


def test_the_dashboard_query_count_does_not_grow_with_the_data(
    client, region, channel_manager, licensing_user, django_capture_on_commit_callbacks
):
    client.force_login(licensing_user)
    populate(region, channel_manager, tag="First")  # 8 licenses, one of each kind of row
    client.get(INDEX)  # warm the caches (content types, session)
    dashboard_cache.data_changed()  # both visits count their figures
    with CaptureQueriesContext(connection) as few:
        client.get(INDEX)
    with django_capture_on_commit_callbacks(execute=True):  # committed: counted again
        populate(region, channel_manager, tag="More", copies=4)  # 32 licenses more
    assert License.objects.count() == 40
    with CaptureQueriesContext(connection) as many:
        response = client.get(INDEX)

    assert by_card(response)["license-requests"] == [5]
    assert len(many) == len(few), "\n".join(q["sql"] for q in many.captured_queries)


# --- Figures kept until the data changes ------------------------------------------------


def license_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if '"licensing_license"' in q["sql"]]


def test_the_figures_are_counted_once_and_again_after_any_committed_change(
    client, two_regions, licensing_user, channel_manager, django_capture_on_commit_callbacks
):
    from licensing import services

    client.force_login(licensing_user)
    first = by_card(client.get(INDEX))
    with CaptureQueriesContext(connection) as again:
        assert by_card(client.get(INDEX)) == first
    assert not license_queries(again.captured_queries), "figures were counted again"

    # A request made in the admin's services (a model save): the next visit counts it.
    partner = License.objects.filter(partner__region__code="emea-south").first().partner
    with django_capture_on_commit_callbacks(execute=True):
        services.request_license(
            partner=partner, kind="DL", hosting="on_premises", by=channel_manager, on=TODAY
        )
    assert by_card(client.get(INDEX))["license-requests"] == [first["license-requests"][0] + 1]


def test_without_a_cache_lifetime_every_visit_counts(client, two_regions, licensing_user, settings):
    # Development without a shared cache: a nightly run in another process could not
    # replace the data version, so nothing is kept.
    settings.DASHBOARD_CACHE_SECONDS = 0
    client.force_login(licensing_user)
    client.get(INDEX)
    with CaptureQueriesContext(connection) as again:
        client.get(INDEX)
    assert license_queries(again.captured_queries)


def test_the_nightly_runs_bulk_writes_refresh_the_figures(
    client, two_regions, licensing_user, django_capture_on_commit_callbacks
):
    from licensing import services

    client.force_login(licensing_user)
    assert by_card(client.get(INDEX))["trials-awaiting-conversion"] == [3]
    # One of the won trials ended yesterday: the nightly run expires it with a bulk UPDATE.
    trial = License.objects.filter(policy__kind="TL", opportunity__status="won").first()
    License.objects.filter(pk=trial.pk).update(ends_on=TODAY - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_nightly(today=TODAY)["trials_expired"] == 1
    assert by_card(client.get(INDEX))["trials-awaiting-conversion"] == [2]


def test_a_change_in_a_channel_managers_regions_changes_her_figures(
    client, two_regions, channel_manager, apac, django_capture_on_commit_callbacks
):
    client.force_login(channel_manager)
    assert by_card(client.get(INDEX))["license-requests"] == [1]
    with django_capture_on_commit_callbacks(execute=True):
        apac.channel_managers.add(channel_manager)
    assert by_card(client.get(INDEX))["license-requests"] == [3]


@pytest.mark.parametrize("by_night", [False, True], ids=["by hand", "by the night"])
def test_the_extension_request_of_a_cancelled_license_is_closed_and_no_longer_counted(
    client, two_regions, licensing_user, django_capture_on_commit_callbacks, by_night
):
    from licensing import services

    client.force_login(licensing_user)
    assert by_card(client.get(INDEX))["extension-requests"] == [3]
    ext = Extension.objects.get(license__partner__name="South partner 0")
    lic = ext.license
    with django_capture_on_commit_callbacks(execute=True):
        if by_night:
            # Expired a whole grace period ago: tonight's run cancels it.
            grace = timedelta(days=lic.policy.grace_days)
            License.objects.filter(pk=lic.pk).update(expired_on=TODAY - grace)
            assert services.run_nightly(today=TODAY)["cancelled"] == 1
        else:
            services.cancel(lic, by=licensing_user, reason="left the program", on=TODAY)

    ext.refresh_from_db()
    assert (ext.state, ext.refusal_reason) == ("refused", "license cancelled")
    response = client.get(INDEX)
    assert by_card(response)["extension-requests"] == [2]
    # The list the figure links to agrees: the request is no longer waiting there either.
    url = next(url for card, url, _ in figures(response) if card == "extension-requests")
    assert changelist_count(client, url) == 2


# --- The expiry chart --------------------------------------------------------------------


def bars(response) -> dict[tuple[str, str], tuple[int, str, str]]:
    html = response.content.decode()
    return {
        (m["month"], m["kind"]): (int(m["count"]), m["title"], unescape(m["url"]))
        for m in BAR.finditer(html)
    }


def test_the_expiry_chart_stacks_active_licenses_by_month_and_kind(
    client, partner, licensing_user, channel_manager
):
    by = channel_manager
    for ends_on in (date(2026, 12, 1), date(2026, 12, 31)):
        make_license(partner, by=by, ends_on=ends_on)
    make_license(partner, "TL", by=by, ends_on=date(2026, 12, 20))
    make_license(partner, "IL", by=by, ends_on=date(2027, 1, 10))
    make_license(partner, "IL", by=by, ends_on=date(2027, 10, 31))  # the 12th month
    make_license(partner, by=by, ends_on=TODAY)  # its last day is today: counted
    # Not counted: past the 12 months, already past its end, or not active.
    make_license(partner, by=by, ends_on=date(2027, 11, 1))
    make_license(partner, by=by, ends_on=TODAY - timedelta(days=1))
    make_license(partner, "IL", state="expired", by=by, ends_on=date(2026, 12, 5))
    client.force_login(licensing_user)

    response = client.get(INDEX)

    found = bars(response)
    assert {key: value[0] for key, value in found.items()} == {
        ("2026-11", "DL"): 1,
        ("2026-12", "DL"): 2,
        ("2026-12", "TL"): 1,
        ("2027-01", "IL"): 1,
        ("2027-10", "IL"): 1,
    }
    count, title, url = found[("2026-12", "DL")]
    assert title == "Dec 2026, Demo license: 2 active licenses ending"
    # Each bar opens the list of its licenses.
    assert changelist_count(client, url) == 2
    assert changelist_count(client, found[("2026-11", "DL")][2]) == 1
    html = response.content.decode()
    assert "<title" in html and 'role="img"' in html
    for label in ("Demo license (DL)", "Internal license (IL)", "Trial license (TL)"):
        assert label in html  # the legend
    assert ">Nov</text>" in html and ">Oct</text>" in html  # 12 month labels, Nov to Oct


def test_the_expiry_chart_of_a_channel_manager_holds_her_regions_only(
    client, partner, channel_manager, apac, apac_manager
):
    make_license(partner, by=channel_manager, ends_on=date(2027, 2, 1))
    elsewhere = partner_ready_for_licenses(region=apac, name="Tokyo Rapid KK", country="JP")
    make_license(elsewhere, by=apac_manager, ends_on=date(2027, 2, 2))
    make_license(elsewhere, "IL", by=apac_manager, ends_on=date(2027, 3, 2))
    client.force_login(channel_manager)

    found = bars(client.get(INDEX))

    assert {key: value[0] for key, value in found.items()} == {("2027-02", "DL"): 1}


def test_the_expiry_chart_is_one_query(partner, channel_manager, licensing_user, rf):
    from config.dashboard import charts

    make_license(partner, by=channel_manager, ends_on=date(2027, 2, 1))
    make_license(partner, "TL", by=channel_manager, ends_on=date(2027, 3, 1))

    with CaptureQueriesContext(connection) as queries:
        svg = charts.expiry_chart(License.objects.all(), start=TODAY, link=lambda *a: "#")

    assert len(queries) == 1
    assert svg.count("<rect x=") == 2 + 3  # two bars, three legend squares
