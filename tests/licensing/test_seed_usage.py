"""seed_demo's usage: four weeks of reports so every usage card and chart has content, one
partner near its limits, one over them (the nightly run opens incidents), one silent."""

import pytest
from django.core.management import call_command

from config.seeding import usage as seeding
from licensing import services, usage_levels
from licensing.models import License, UsageReport
from partners.models import ComplianceIncident
from partners.services import today

pytestmark = pytest.mark.django_db


def names(licenses) -> set[str]:
    return set(licenses.values_list("partner__name", flat=True))


def test_the_demo_reports_feed_every_card_and_the_nightly_check():
    call_command("seed_demo")
    reports = UsageReport.objects.count()
    assert reports >= 4 * seeding.DAYS
    call_command("seed_demo")
    assert UsageReport.objects.count() == reports  # a second run adds nothing

    t = today()
    licenses = License.objects.all()
    assert seeding.OVER in names(usage_levels.over_limit(licenses, t))
    assert seeding.NEAR in names(usage_levels.near_limit(licenses, t))
    assert names(usage_levels.unreported(licenses, t)) == {seeding.SILENT}
    assert not UsageReport.objects.filter(reported_on__gte=t).exists()

    services.run_nightly(today=t)
    opened = ComplianceIncident.objects.filter(usage_report__isnull=False)
    kinds = set(opened.values_list("partner__name", "kind"))
    assert (seeding.OVER, "over_limit") in kinds
    assert (seeding.OVER, "users_outside_country") in kinds
    assert seeding.NEAR not in {name for name, _ in kinds}
