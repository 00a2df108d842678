"""IPP demo data on top of `seed_demo`'s partners, users and licenses.

Applications on two partners' infrastructures and deployment permissions in every state
towards the infrastructures of the demo Trial licenses, made through the services as the
channel manager and the licensing team would. Idempotent: applications are matched by
(infrastructure, name), a permission by (source, target, first application); one that
exists is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from licensing.models import Infrastructure, License
from partners.models import Contact
from partners.services import today

from . import services
from .choices import PermissionState
from .models import Application, DeploymentCheck, DeploymentPermission

DEMO_CALLER = "seed_demo"

# The infrastructures, by the demo license they were provisioned for.
SOURCES = {
    "lisbon-il": ("Lisbon Low-Code Lda", "IL", "on_premises"),
    "berlin-dl": ("Berlin Bits GmbH", "DL", "shared_cloud"),
}
TARGETS = {
    "tokyo-tl": ("Tokyo Rapid KK", "TL", None),  # active Trial
    "boston-tl": ("Boston Builders Inc.", "TL", None),  # converted: a customer license
}
APPLICATIONS = {
    "lisbon-il": ["Claims Portal", "Field Inspection App", "Underwriting Workbench"],
    "berlin-dl": ["Fleet Tracker", "HR Onboarding Kit"],
}


@dataclass(frozen=True)
class PermissionPlan:
    source: str
    target: str
    applications: tuple[str, ...]
    state: str
    consent: bool
    days_ago: int
    reason: str = ""
    valid_for_days: int | None = None


PLAN = [
    PermissionPlan(
        "lisbon-il",
        "tokyo-tl",
        ("Claims Portal", "Field Inspection App"),
        PermissionState.GRANTED,
        consent=True,
        days_ago=8,
        valid_for_days=90,
    ),
    PermissionPlan(
        "lisbon-il",
        "boston-tl",
        ("Underwriting Workbench",),
        PermissionState.REQUESTED,
        consent=True,
        days_ago=3,
    ),
    PermissionPlan(
        "berlin-dl", "tokyo-tl", ("Fleet Tracker",), PermissionState.REQUESTED, False, 1
    ),
    PermissionPlan(
        "berlin-dl",
        "boston-tl",
        ("HR Onboarding Kit",),
        PermissionState.REFUSED,
        consent=True,
        days_ago=20,
        reason="Built on a Demo license: demo components are not delivered to customers.",
    ),
    PermissionPlan(
        "lisbon-il",
        "boston-tl",
        ("Claims Portal",),
        PermissionState.REVOKED,
        consent=True,
        days_ago=40,
        reason="The developer withdrew its consent after the customer chose another partner.",
    ),
]


def _infrastructure(partner_name: str, kind: str, hosting: str | None) -> Infrastructure | None:
    licenses = License.objects.filter(
        partner__name=partner_name, policy__kind=kind, infrastructure__isnull=False
    )
    if hosting:
        licenses = licenses.filter(hosting=hosting)
    lic = licenses.select_related("infrastructure").order_by("id").first()
    return lic.infrastructure if lic else None


def _make_permission(plan: PermissionPlan, infrastructures, applications, team) -> bool:
    """Create one planned permission through the services; False when it already exists."""
    source, target = infrastructures[plan.source], infrastructures[plan.target]
    apps = [applications[(plan.source, name)] for name in plan.applications]
    if DeploymentPermission.objects.filter(source=source, target=target, applications=apps[0]):
        return False
    day = today() - timedelta(days=plan.days_ago)
    partner = source.owner_partner
    manager = partner.region.channel_managers.first() or team
    permission = services.request_permission(
        applications=apps, source=source, target=target, by=manager, on=day
    )
    if plan.consent:
        contact = Contact.objects.get(partner=partner, role="technical")
        services.record_consent(permission, contact=contact, by=manager, on=day + timedelta(days=1))
    decided = day + timedelta(days=2)
    if plan.state == PermissionState.REFUSED:
        services.refuse(permission, by=team, reason=plan.reason, on=decided)
    elif plan.state in (PermissionState.GRANTED, PermissionState.REVOKED):
        valid_until = today() + timedelta(days=plan.valid_for_days) if plan.valid_for_days else None
        services.grant(permission, by=team, valid_until=valid_until, on=decided)
        if plan.state == PermissionState.REVOKED:
            services.revoke(permission, by=team, reason=plan.reason, on=today() - timedelta(days=2))
    return True


def seed_ipp(stdout) -> None:
    """Create the IPP demo data (idempotent) and write one summary line to `stdout`
    (a command's OutputWrapper or any text stream)."""
    infrastructures = {key: _infrastructure(*spec) for key, spec in {**SOURCES, **TARGETS}.items()}
    missing = sorted(key for key, infra in infrastructures.items() if infra is None)
    if missing:
        stdout.write(f"ipp: skipped, run seed_demo first (no infrastructure for {missing})\n")
        return
    team = get_user_model().objects.get(username="licensing")
    with transaction.atomic():
        applications = {}
        for source_key, names in APPLICATIONS.items():
            for name in names:
                application, _ = Application.objects.get_or_create(
                    developed_in=infrastructures[source_key], name=name
                )
                applications[(source_key, name)] = application
        for plan in PLAN:
            _make_permission(plan, infrastructures, applications, team)
        # A few answers in the check log, once, as the overview pages show them.
        if not DeploymentCheck.objects.filter(caller=DEMO_CALLER).exists():
            for application in applications.values():
                for target_key in TARGETS:
                    services.check_and_log(
                        application=application,
                        target=infrastructures[target_key],
                        caller=DEMO_CALLER,
                    )
    states = sorted(set(DeploymentPermission.objects.values_list("state", flat=True)))
    stdout.write(
        f"ipp: {Application.objects.count()} applications, "
        f"{DeploymentPermission.objects.count()} deployment permissions "
        f"({', '.join(states)}), {DeploymentCheck.objects.count()} deployment checks\n"
    )
