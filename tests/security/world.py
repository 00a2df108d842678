"""Two regions with one of everything each, made through the services as people would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model

from ipp import services as ipp_services
from ipp.models import Application
from licensing import services
from licensing.choices import AttemptOutcome
from licensing.models import License, RegistrationAttempt
from partners import roles
from partners.models import ComplianceIncident
from tests.factories import (
    TODAY,
    IncidentFactory,
    OpportunityFactory,
    RegionFactory,
    ReleaseFactory,
    UserFactory,
    partner_ready_for_licenses,
    provision_license,
)


@dataclass
class World:
    users: dict = field(default_factory=dict)
    regions: dict = field(default_factory=dict)
    # What no page may ever show, whoever asks: the API tokens, shown once when issued.
    tokens: list = field(default_factory=list)


def build_region(world: World, code: str, team, release) -> None:
    region = RegionFactory(code=f"region-{code}", name=f"Region {code.upper()}")
    manager = UserFactory(username=f"cm_{code}", roles=[roles.CHANNEL_MANAGER])
    architect = UserFactory(username=f"sa_{code}", roles=[roles.SOLUTION_ARCHITECT])
    region.channel_managers.add(manager)
    partner = partner_ready_for_licenses(region=region, name=f"Partner {code.upper()}")
    partner.channel_manager = manager
    partner.save()
    IncidentFactory(
        partner=partner,
        opened_on=TODAY - timedelta(days=300),
        resolved_on=TODAY - timedelta(days=200),
    )
    opportunity = OpportunityFactory(
        partner=partner, solution_architect=architect, prospect_name=f"Prospect {code.upper()}"
    )

    demo = provision_license(
        partner, hosting="on_premises", requested_by=manager, licensing_user=team
    )
    services.deliver_notifications()  # its onboarding mail, sent: a row of every state
    services.register_infrastructure(
        activation_code=demo.activation_code,
        registration_id=f"ONPREM-{code.upper()}-01",
        platform_version=release.version,
        on=TODAY,
    )
    RegistrationAttempt.objects.create(
        outcome=AttemptOutcome.REGISTERED, license=demo, registration_id=f"ONPREM-{code.upper()}-01"
    )
    trial = provision_license(
        partner, kind="TL", opportunity=opportunity, requested_by=architect, licensing_user=team
    )
    services.request_extension(
        trial,
        by=architect,
        reason="trial_sales_cycle",
        requested_until=trial.ends_on + timedelta(days=10),
        evaluation="PoC going well",
        on=TODAY,
    )
    waiting = services.request_license(partner=partner, kind="DL", by=manager, on=TODAY)

    demo.refresh_from_db()
    trial.refresh_from_db()
    app = Application.objects.create(name=f"App {code.upper()}", developed_in=demo.infrastructure)
    permission = ipp_services.request_permission(
        applications=[app],
        source=demo.infrastructure,
        target=trial.infrastructure,
        by=manager,
        on=TODAY,
    )
    ipp_services.record_consent(
        permission, contact=partner.contacts.get(role="technical"), by=manager, on=TODAY
    )
    ipp_services.grant(permission, by=team, on=TODAY)
    ipp_services.check_and_log(application=app, target=trial.infrastructure, caller="service")
    world.tokens.append(ipp_services.issue_token(trial.infrastructure, by=team))
    # Usage reported by both infrastructures, and an incident the usage check opened from
    # one (resolved: the partner stays in good standing).
    for n, infra in enumerate([demo.infrastructure, trial.infrastructure]):
        shown = services.record_usage(
            infrastructure=infra,
            reported_on=TODAY - timedelta(days=1),
            application_objects=100 + n,
            disk_gb="1.50",
            internal_users=5,
            external_users=0,
            internal_users_by_country={partner.country.code: 5},
            on=TODAY,
        )
    ComplianceIncident.objects.create(
        partner=partner,
        license=trial,
        kind="over_limit",
        opened_on=TODAY - timedelta(days=1),
        resolved_on=TODAY,
        notes=f"Usage of {trial.infrastructure.name}: over its limit",
        usage_report=shown,
        resolution="Figures back under the limit",
        resolved_by=team,
    )

    world.users[f"cm_{code}"] = manager
    world.users[f"sa_{code}"] = architect
    world.regions[code] = {
        "region": region,
        "partner": partner,
        "licenses": [demo, trial, waiting],
        "application": app,
    }


def link_regions(world: World, team) -> None:
    """B's application allowed on A's Trial infrastructure, and a check of it logged there:
    a page of region A's infrastructure then has something of region B to leave out."""
    b, a_trial = world.regions["b"], world.regions["a"]["licenses"][1]
    developer = b["licenses"][0].infrastructure
    permission = ipp_services.request_permission(
        applications=[b["application"]],
        source=developer,
        target=a_trial.infrastructure,
        by=world.users["cm_b"],
        on=TODAY,
    )
    ipp_services.record_consent(
        permission,
        contact=b["partner"].contacts.get(role="technical"),
        by=world.users["cm_b"],
        on=TODAY,
    )
    ipp_services.grant(permission, by=team, on=TODAY)
    ipp_services.check_and_log(
        application=b["application"], target=a_trial.infrastructure, caller="service"
    )


def build() -> World:
    world = World()
    team = UserFactory(username="lt", roles=[roles.LICENSING_TEAM])
    world.users["lt"] = team
    world.users["auditor"] = UserFactory(username="auditor", roles=[roles.AUDITOR])
    world.users["root"] = get_user_model().objects.create_superuser(
        "root", "root@x.example.com", "pw"
    )
    release = ReleaseFactory()
    for code in ("a", "b"):
        build_region(world, code, team, release)
    link_regions(world, team)
    services.run_nightly(today=TODAY)
    assert License.objects.count() == 6
    return world
