"""seed_demo tells a year: end dates spread over the next twelve months, licenses inside
every reminder window, thirty nights already run, and dates that move with today while the
counts stay."""

import io
from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from config.seeding.year import NIGHTS
from ipp.models import DeploymentCheck, InfrastructureToken
from licensing.models import (
    Extension,
    License,
    LicenseFileIssue,
    NightlyRun,
    Notification,
    RegistrationAttempt,
)
from partners.dates import today

pytestmark = pytest.mark.django_db


def counts():
    # Records, not what is derived from them: the dashboard's kept counts are kept per day,
    # so dates moved forward add rows to them; the lists' kept row counts, one per change.
    return {
        m._meta.label: m._default_manager.count()
        for m in apps.get_models()
        if m._meta.app_label in ("partners", "licensing", "ipp")
        and not m.__name__.startswith("Historical")
        and m._meta.label not in ("licensing.LicenseTally", "partners.RowCount")
    }


def seed():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def days_left(**filters):
    t = today()
    return [(lic.ends_on - t).days for lic in License.objects.filter(state="active", **filters)]


def test_the_demo_tells_a_year_and_refreshes_its_dates_with_the_same_counts():
    out = seed()
    t = today()

    # End dates spread over the year, one in every reminder window.
    partner_licenses = days_left(policy__kind__in=["DL", "IL"])
    assert max(partner_licenses) - min(partner_licenses) > 300
    assert len({n // 30 for n in partner_licenses}) >= 6  # not one spike
    for low, high in ((0, 7), (7, 30), (30, 60)):
        assert any(low < n <= high for n in partner_licenses), (low, high)
    trials = days_left(policy__kind="TL")
    for low, high in ((0, 3), (3, 14)):
        assert any(low < n <= high for n in trials), (low, high)

    # Thirty nights already run, and what they left.
    runs = NightlyRun.objects.order_by("day")
    assert [r.day for r in runs] == [t - timedelta(days=n) for n in range(NIGHTS, 0, -1)]
    assert {r.status for r in runs} == {"finished"}
    assert Notification.objects.filter(kind="reminder").exists()
    assert Notification.objects.filter(kind="overdue_alert").exists()
    assert License.objects.filter(provisioning_overdue_since__isnull=False).exists()

    # The story's cases.
    assert Extension.objects.filter(state="refused").exclude(refusal_reason="").exists()
    assert License.objects.filter(policy__kind="TL", state="expired").exists()
    cancelled = License.objects.select_related("policy").get(state="cancelled")
    assert cancelled.cancelled_on == cancelled.expired_on + timedelta(
        days=cancelled.policy.grace_days
    )
    assert cancelled.cancelled_on < t
    outcomes = set(RegistrationAttempt.objects.values_list("outcome", flat=True))
    assert {"registered", "refused_code", "downloaded"} <= outcomes
    assert InfrastructureToken.objects.exists() and DeploymentCheck.objects.exists()
    assert LicenseFileIssue.objects.filter(via="portal").exists()

    # The demo users, with their roles, are printed.
    assert "licensing    Licensing Team" in out and "auditor      Auditor" in out

    first = counts()
    lisbon = License.objects.get(partner__name="Lisbon Low-Code Lda", hosting="shared_cloud")
    tomorrow = datetime.combine(t + timedelta(days=1), time(9))
    with time_machine.travel(tomorrow, tick=False):
        seed()
        assert counts() == first
        moved = License.objects.get(partner__name="Lisbon Low-Code Lda", hosting="shared_cloud")
        assert moved.ends_on == lisbon.ends_on + timedelta(days=1)
        assert NightlyRun.objects.order_by("-day").first().day == t


def test_the_demo_seeds_again_after_tonights_usage_check_opened_incidents():
    from licensing.services import run_nightly
    from partners.models import ComplianceIncident

    seed()
    fresh = counts()
    opened = run_nightly(today=today())["usage_incidents_opened"]
    assert opened >= 2  # the partner over its limits, and its users abroad

    seed()  # the hand-typed incidents are found again beside the ones the night opened

    assert counts() == fresh
    assert not ComplianceIncident.objects.exclude(usage_report=None).exists()
    assert run_nightly(today=today())["usage_incidents_opened"] == opened
