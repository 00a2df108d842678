"""The counts the database keeps for the dashboard equal the licenses they count, after
every kind of statement that can move them: services, the nightly run, bulk updates and
deletes, usage reports, a deal won, an infrastructure registered."""

from datetime import timedelta

import pytest

from config.dashboard import charts
from licensing import services, tallies, usage_levels
from licensing.models import (
    Infrastructure,
    License,
    LicenseTally,
    UsageReport,
    awaiting_conversion_q,
)
from partners import services as partner_services
from partners.models import Partner, Region
from partners.scoping import RegionScope
from tests.factories import (
    TODAY,
    IncidentFactory,
    OpportunityFactory,
    PartnerFactory,
    UserFactory,
    make_license,
    partner_ready_for_licenses,
)
from tests.helpers import needs_postgresql

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

SPAN = (TODAY - timedelta(days=400), TODAY + timedelta(days=800))


def counted(licenses, partners, day=TODAY):
    """What the dashboard counts of `licenses` and `partners`, read from the rows themselves."""
    return (
        charts.endings_by_day(licenses, *SPAN),
        licenses.filter(awaiting_conversion_q()).count(),
        usage_levels.unreported(licenses, day).count(),
        partners.kept_in_good_standing(False).count(),
    )


def kept(scope: RegionScope, day=TODAY):
    found = tallies.read(
        scope, start=SPAN[0], end=SPAN[1], since=usage_levels.unreported_since(day)
    )
    return found.endings, found.awaiting, found.unreported, found.not_good


def assert_kept_equals_counted(*regions, day=TODAY):
    everything = RegionScope(everything=True)
    assert kept(everything, day) == counted(License.objects.all(), Partner.objects.all(), day)
    # A count back to zero leaves no row behind.
    assert not LicenseTally.objects.filter(n=0).exists()
    for region in regions:
        mine = RegionScope(everything=False, regions=Region.objects.filter(pk=region.pk))
        assert kept(mine, day) == counted(
            License.objects.filter(region=region), Partner.objects.filter(region=region), day
        )


def report(infrastructure, day):
    return services.record_usage(
        infrastructure=infrastructure,
        reported_on=day,
        application_objects=100,
        disk_gb=1,
        internal_users=3,
        external_users=0,
    )


def test_the_kept_counts_follow_every_change_of_what_they_count(
    region, apac, channel_manager, licensing_user, release
):
    needs_postgresql("the counts are kept by PostgreSQL triggers")
    south = partner_ready_for_licenses(region=region, name="South partner")
    east = partner_ready_for_licenses(region=apac, name="East partner")
    assert_kept_equals_counted(region, apac)

    # Licenses made active by the services, and rows written directly.
    from_services = [
        services.provision(
            services.approve(
                services.request_license(partner=south, kind=kind, by=channel_manager),
                by=licensing_user,
            ),
            by=licensing_user,
        )
        for kind in ("DL", "IL")
    ]
    onsite = Infrastructure.objects.create(
        name="On site", owner_partner=south, hosting="on_premises", registration_id="REG-1"
    )
    unregistered = Infrastructure.objects.create(
        name="Not yet", owner_partner=east, hosting="on_premises"
    )
    deal = OpportunityFactory(partner=east, status="approved", solution_architect=None)
    trial = make_license(
        east, "TL", by=licensing_user, ends_on=TODAY + timedelta(days=20), opportunity=deal
    )
    for n in range(3):
        make_license(
            south, by=licensing_user, ends_on=TODAY + timedelta(days=n), infrastructure=onsite
        )
    make_license(
        east,
        "IL",
        by=licensing_user,
        ends_on=TODAY + timedelta(days=5),
        infrastructure=unregistered,
    )
    assert_kept_equals_counted(region, apac)
    everything = RegionScope(everything=True)
    unreported = kept(everything)[2]  # the three on site among them, never reported

    # Usage reports: a first, one replacing it, an older one removed, one too old to count.
    report(onsite, TODAY - timedelta(days=20))
    assert_kept_equals_counted(region, apac)
    report(onsite, TODAY - timedelta(days=2))
    report(onsite, TODAY - timedelta(days=2))  # the same day again: replaced
    assert kept(everything)[2] == unreported - 3
    UsageReport.objects.filter(reported_on=TODAY - timedelta(days=2)).delete()
    assert_kept_equals_counted(region, apac)
    assert kept(everything)[2] == unreported  # the latest is 20 days old again

    # The other infrastructure registered; the deal won, then the trial extended in bulk.
    Infrastructure.objects.filter(pk=unregistered.pk).update(registration_id="REG-2")
    partner_services.set_opportunity_status(deal, status="won", by=licensing_user)
    assert_kept_equals_counted(region, apac)
    assert kept(everything)[1] == 1
    License.objects.filter(pk=trial.pk).update(ends_on=TODAY + timedelta(days=60))
    License.objects.filter(pk=from_services[0].pk).update(region=apac)  # moved to another region
    assert_kept_equals_counted(region, apac)

    # Partners: one without a term (not in good standing), moved to another region, and
    # one whose standing turns bad with an incident.
    lapsed = PartnerFactory(region=region, name="Lapsed partner")
    assert_kept_equals_counted(region, apac)
    Partner.objects.filter(pk=lapsed.pk).update(region=apac)
    IncidentFactory(partner=south)
    assert_kept_equals_counted(region, apac)

    # The night expires what ended, a license is cancelled, another deleted.
    services.run_nightly(today=TODAY + timedelta(days=2))
    assert_kept_equals_counted(region, apac, day=TODAY + timedelta(days=2))
    services.cancel(from_services[1], by=licensing_user, reason="Contract ended early")
    short_lived = make_license(
        south, by=licensing_user, ends_on=TODAY + timedelta(days=9), infrastructure=onsite
    )
    assert_kept_equals_counted(region, apac)
    short_lived.delete()
    assert_kept_equals_counted(region, apac)


def test_a_channel_manager_and_the_licensing_team_read_the_kept_counts_of_their_scope(
    region, apac, channel_manager, licensing_user
):
    needs_postgresql("the counts are kept by PostgreSQL triggers")
    architect = UserFactory(username="sam", roles=["Solution Architect"])

    assert tallies.by_regions(licensing_user) == RegionScope(everything=True)
    hers = tallies.by_regions(channel_manager)
    assert not hers.everything
    assert list(hers.regions.values_list("pk", flat=True)) == [region.pk]
    # An architect's rows are his assignments, not regions: the dashboard counts them.
    assert tallies.by_regions(architect) is None
