"""The nightly usage check: the latest report of D−7..D−1 against the license's limits."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing import services
from licensing.choices import LicenseState, NotificationKind
from licensing.models import License, Notification
from licensing.nightly import system_user
from licensing.nightly.bulk import Context
from licensing.nightly.usage import check_usage, findings
from licensing.notifications import context_for, render_mail
from partners.models import ComplianceIncident
from partners.services import OPEN_INCIDENT, resolve_incident, standing
from tests.factories import TODAY, OpportunityFactory, TermFactory, partner_ready_for_licenses
from tests.helpers import needs_postgresql

NIGHT = TODAY + timedelta(days=2)
UNDER = {
    "application_objects": 1000,
    "disk_gb": "2.5",
    "internal_users": 20,
    "external_users": 0,
    "internal_users_by_country": {"PT": 20},
}


@pytest.fixture
def demo(provisioned, partner, channel_manager, release):
    """An active cloud Demo license of `partner` (PT), whose channel manager is marta."""
    partner.channel_manager = channel_manager
    partner.save()
    return provisioned(partner)


def reported(lic, *, days_before=1, night=NIGHT, **figures):
    day = night - timedelta(days=days_before)
    return services.record_usage(
        infrastructure=lic.infrastructure, reported_on=day, **{**UNDER, **figures}, on=day
    )


def night(day=NIGHT):
    return services.run_nightly(today=day)


def incidents(**filters):
    return list(ComplianceIncident.objects.filter(**filters).order_by("kind"))


def test_over_limit_opens_one_incident_naming_each_figure_and_its_limit(
    demo, channel_manager, settings
):
    report = reported(demo, application_objects=2650, disk_gb="7.8")
    counts = night()
    (incident,) = incidents()
    assert (incident.kind, incident.license, incident.partner) == ("over_limit", demo, demo.partner)
    assert incident.notes == (
        "Application objects 2,650 over the limit of 2,400; disk 7.8 GB over the limit of 7 GB "
        f"(report of {NIGHT - timedelta(days=1):%Y-%m-%d})"
    )
    assert (incident.opened_on, incident.usage_report) == (NIGHT, report)
    assert incident.history.get().history_user == system_user()
    assert counts["usage_incidents_opened"] == counts["usage_over_limit"] == 1
    # Told once: the channel manager and the licensing team's mailbox.
    told = Notification.objects.filter(kind=NotificationKind.INCIDENT_OPENED)
    assert sorted(told.values_list("recipient", flat=True)) == sorted(
        [channel_manager.email, settings.LICENSING_TEAM_EMAIL]
    )
    assert all(n.sent_at for n in told)
    # Written in bulk, both carry the partner's region: her lists find them by it.
    assert incident.region_id == demo.partner.region_id
    assert {n.region_id for n in told} == {demo.partner.region_id}


def test_a_second_night_opens_nothing_new_and_tells_nobody_again(demo):
    reported(demo, internal_users=150, internal_users_by_country={})
    night()
    night()
    assert night(NIGHT + timedelta(days=1))["usage_incidents_opened"] == 0
    assert len(incidents()) == 1
    assert Notification.objects.filter(kind=NotificationKind.INCIDENT_OPENED).count() == 2


def test_external_users_on_a_demo_license_are_external_access_not_over_limit(demo):
    reported(demo, external_users=3)
    counts = night()
    (incident,) = incidents()
    assert incident.kind == "external_access"
    assert "External users 3 on a license for internal use only" in incident.notes
    assert counts["usage_external_access"] == 1


def test_internal_users_in_another_country_open_users_outside_country(demo):
    reported(demo, internal_users_by_country={"PT": 10, "ES": 3, "FR": 2})
    night()
    (incident,) = incidents()
    assert incident.kind == "users_outside_country"
    assert incident.notes.startswith("Internal users outside Portugal (PT): ES 3, FR 2 (report")


def test_one_report_may_open_every_kind_at_once(demo):
    reported(
        demo,
        application_objects=2401,
        external_users=1,
        internal_users_by_country={"BR": 1},
    )
    night()
    assert [i.kind for i in incidents()] == [
        "external_access",
        "over_limit",
        "users_outside_country",
    ]


def test_a_trial_over_its_external_users_is_over_limit(trial):
    reported(trial, external_users=10_001, internal_users_by_country={"US": 20})
    night()
    (incident,) = incidents()
    # A trial is for a prospect: external users are allowed up to the limit, any country.
    assert incident.kind == "over_limit"
    assert "External users 10,001 over the limit of 10,000" in incident.notes


@pytest.mark.parametrize(
    ("days_before", "figures"),
    [
        (1, {}),  # under every limit
        (1, {"application_objects": 2400, "disk_gb": "7", "internal_users": 100}),  # at the limit
        (8, {"application_objects": 9999}),  # older than 7 days
        (0, {"application_objects": 9999}),  # dated the run's day: the next night judges it
    ],
)
def test_nothing_is_opened_under_the_limits_or_outside_the_window(demo, days_before, figures):
    reported(demo, days_before=days_before, **figures)
    assert night()["usage_incidents_opened"] == 0
    assert incidents() == []


@pytest.mark.parametrize(
    ("figures", "limits"),
    [
        ({"disk_gb": "7.01"}, {}),  # a hundredth over
        ({"disk_gb": "7.00"}, {}),  # at the limit
        ({"application_objects": 2401}, {}),
        ({"internal_users": 101, "internal_users_by_country": {"PT": 101}}, {}),
        ({"external_users": 1}, {}),
        ({"internal_users_by_country": {"PT": 19, "ES": 1}}, {}),
        ({"internal_users_by_country": {"PT": 20, "ES": 0}}, {}),  # nobody abroad
        ({"disk_gb": "99"}, {"max_disk_gb": None}),  # no limit
        ({"application_objects": 11}, {"max_application_objects": 10}),
        ({"disk_gb": "0.5"}, {"max_disk_gb": 0.25}),
    ],
)
def test_the_check_opens_exactly_what_findings_finds(demo, figures, limits):
    # The step reads only the reports SQL suspects; whatever it leaves out, findings()
    # (the rule) must find nothing in.
    demo.limits = {**demo.limits, **limits}
    demo.save()
    report = reported(demo, **figures)
    expected = findings(
        kind=demo.policy.kind, limits=demo.limits, country=demo.partner.country, report=report
    )

    night()

    assert {i.kind: i.notes for i in incidents()} == expected


def test_the_latest_report_of_the_window_decides(demo):
    reported(demo, days_before=3, application_objects=5000)
    reported(demo, days_before=1)
    night()
    assert incidents() == []


def test_a_license_no_longer_active_is_not_checked(demo, licensing_user):
    reported(demo, application_objects=5000)
    services.cancel(demo, by=licensing_user, reason="partner left", on=NIGHT - timedelta(days=1))
    night()
    assert incidents() == []


def test_a_resolved_incident_is_not_reopened_from_the_same_report_but_a_new_report_opens_one(
    demo, licensing_user
):
    reported(demo, application_objects=3000)
    night()
    (first,) = incidents()
    resolve_incident(first, by=licensing_user, note="cleaned up old modules", on=NIGHT)
    night(NIGHT + timedelta(days=1))
    assert len(incidents()) == 1
    reported(demo, night=NIGHT + timedelta(days=2), application_objects=3100)
    night(NIGHT + timedelta(days=2))
    assert len(incidents(resolved_on=None)) == 1
    assert len(incidents()) == 2


def test_standing_turns_bad_with_the_incident_the_renewal_fails_and_resolving_restores_it(
    demo, licensing_user
):
    partner = demo.partner
    # A next term: without the incident the license would renew at its end.
    TermFactory(partner=partner, starts_on=demo.ends_on + timedelta(days=1))
    check_night = demo.ends_on - timedelta(days=2)
    reported(demo, night=check_night, application_objects=2500)
    assert standing(partner, on=check_night).good
    night(check_night)
    (incident,) = incidents()
    judged = standing(partner, on=check_night)
    assert not judged.good
    assert OPEN_INCIDENT.format(kind=incident.get_kind_display(), opened_on=check_night) in (
        judged.reasons
    )
    night(demo.ends_on + timedelta(days=1))
    demo.refresh_from_db()
    assert demo.state == LicenseState.EXPIRED
    resolve_incident(
        incident, by=licensing_user, note="AOs removed", on=demo.ends_on + timedelta(days=2)
    )
    assert standing(partner, on=demo.ends_on + timedelta(days=2)).good
    night(demo.ends_on + timedelta(days=2))
    demo.refresh_from_db()
    assert demo.state == LicenseState.ACTIVE


def test_the_incident_mail_names_the_figures_and_links_the_incident(demo, channel_manager):
    reported(demo, application_objects=2650)
    night()
    (incident,) = incidents()
    mail = Notification.objects.filter(
        kind=NotificationKind.INCIDENT_OPENED, recipient=channel_manager.email
    ).get()
    assert mail.key == f"incident_opened:{demo.pk}:{incident.pk}:{channel_manager.email}"
    subject, text, html = render_mail(mail.template, context_for(mail))
    assert "Over the license limits" in subject
    assert "Application objects 2,650 over the limit of 2,400" in text
    assert f"/admin/partners/complianceincident/{incident.pk}/change/" in html


def test_findings_is_pure_and_ignores_missing_limits():
    class Report:
        reported_on = TODAY
        application_objects = 10**6
        disk_gb = 10**4
        internal_users = 5
        external_users = 0
        internal_users_by_country = {"PT": 5}

    limits = {"max_application_objects": None, "max_disk_gb": None, "internal_users": 100}
    assert findings(kind="IL", limits=limits, country="PT", report=Report()) == {}


def _licenses(n, channel_manager, licensing_user, region):
    """`n` active cloud Demo licenses, each of its own partner, over the AO limit."""
    for _ in range(n):
        partner = partner_ready_for_licenses(region=region)
        lic = services.provision(
            services.approve(
                services.request_license(partner=partner, kind="DL", by=channel_manager, on=TODAY),
                by=licensing_user,
                on=TODAY,
            ),
            by=licensing_user,
            on=TODAY,
        )
        reported(
            lic, application_objects=3000, external_users=1, internal_users_by_country={"ES": 1}
        )


def _queries_of_the_step():
    ctx = Context(day=NIGHT, counts=Counter(), user=system_user(), say=lambda m: None)
    with CaptureQueriesContext(connection) as queries:
        check_usage(ctx)
    return len(queries), ctx.counts["usage_incidents_opened"]


def test_the_check_costs_the_same_queries_for_5_or_50_licenses(
    channel_manager, licensing_user, region, release
):
    # SQLite caps a statement at 999 parameters, so its bulk inserts split by size.
    needs_postgresql("bulk statement sizes differ on SQLite")
    _licenses(5, channel_manager, licensing_user, region)
    few, opened = _queries_of_the_step()
    assert opened == 15
    ComplianceIncident.objects.all().delete()
    _licenses(45, channel_manager, licensing_user, region)
    many, opened = _queries_of_the_step()
    assert opened == 150
    assert many == few
    assert License.objects.count() == 50


def test_a_trial_of_another_partner_is_judged_on_its_own_limits(
    partner, architect, licensing_user, release
):
    other = partner_ready_for_licenses(country="BR")
    opportunity = OpportunityFactory(partner=other, solution_architect=architect)
    lic = services.provision(
        services.approve(
            services.request_license(
                partner=other, kind="TL", opportunity=opportunity, by=architect, on=TODAY
            ),
            by=licensing_user,
            on=TODAY,
        ),
        by=licensing_user,
        on=TODAY,
    )
    reported(lic, external_users=50, internal_users_by_country={"PT": 20})
    night()
    assert incidents() == []
