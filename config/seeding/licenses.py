"""Scale licenses with their infrastructures and environments, then the extensions.

Each license is written as the nightly run for T would have left it: active Demo/Internal
licenses end on their partner's renewal date, expired ones ended within the grace period,
cancelled ones after it, and approved ones past their provisioning deadline are flagged.
"""

from __future__ import annotations

import secrets
import time
from datetime import date, timedelta
from typing import NamedTuple

from django.conf import settings

from licensing.choices import Hosting, LicenseKind
from licensing.models import Environment, Extension, Infrastructure, License

from .context import BATCH, Seeding, stamp
from .plans import PROVISIONED, LicensePlan, PartnerPlan

REGISTRATION_PREFIX = "SCALE-"


class Provisioned(NamedTuple):
    """A license with an infrastructure: what the extensions and the IPP data build on."""

    infrastructure_id: int
    partner: PartnerPlan
    registration_id: str  # "" while an on-premises one is not registered
    live_trial: bool
    license_id: int
    state: str


def seed_licenses(run: Seeding, plans: list[LicensePlan]) -> list[Provisioned]:
    """Infrastructures, environments and licenses, one batch of licenses at a time, then
    the extensions. Returns the licenses that have an infrastructure."""
    last = (
        Infrastructure.objects.filter(registration_id__startswith=REGISTRATION_PREFIX)
        .order_by("-registration_id")
        .values_list("registration_id", flat=True)
        .first()
    )
    run.infra_number = int(last.removeprefix(REGISTRATION_PREFIX)) if last else 0
    trial_policy = run.policies["TL"].pk
    made = []
    total = len(plans)
    for start in range(0, total, BATCH):
        began = time.monotonic()
        chunk = [new_license(run, plan) for plan in plans[start : start + BATCH]]
        infras = [lic.infrastructure for lic in chunk if lic.infrastructure is not None]
        infras = run.bulk(Infrastructure, infras)
        environments = [env for infra in infras for env in environments_of(run, infra)]
        for i in range(0, len(environments), BATCH):
            run.bulk(Environment, environments[i : i + BATCH])
        chunk = run.bulk(License, chunk)
        rows = 2 * (len(chunk) + len(infras) + len(environments))
        run.progress("licenses (+infra, envs)", start + len(chunk), total, rows, began)
        made += [
            Provisioned(
                lic.infrastructure_id,
                lic._plan.partner,
                lic.infrastructure.registration_id,
                lic.policy_id == trial_policy and lic.state == "active",
                lic.pk,
                lic.state,
            )
            for lic in chunk
            if lic.infrastructure_id
        ]
    seed_extensions(run, made)
    return made


def new_license(run: Seeding, plan: LicensePlan) -> License:
    """The license of `plan`, with the dates of every step it went through to its state."""
    rng, t, state, kind = run.rng, run.t, plan.state, plan.kind
    partner, opportunity = plan.partner, plan.opportunity
    if kind == LicenseKind.TL:
        requester = opportunity.solution_architect if opportunity else run.user
    else:
        requester = partner.region.manager
    lic = License(
        policy=run.policies[kind],
        partner_id=partner.pk,
        opportunity=opportunity,
        licensee_name=opportunity.prospect_name if opportunity else partner.name,
        hosting=plan.hosting,
        state=state,
        requested_by=requester,
    )
    lic._plan = plan
    if state == "requested":
        lic.requested_on = t - timedelta(days=rng.randint(0, 10))
        return lic
    if state == "refused":
        lic.requested_on = t - timedelta(days=rng.randint(1, 120))
        lic.decided_on = lic.requested_on + timedelta(days=rng.randint(0, 3))
        lic.state_reason = "Duplicate of an earlier request (scale data)"
        return lic
    provisioned = state in PROVISIONED and not (state == "cancelled" and rng.random() < 0.2)
    if provisioned:
        term = term_of(run, plan)
        lic.requested_on = term[0] - timedelta(days=rng.randint(2, 10))
    else:
        lic.requested_on = t - timedelta(days=rng.randint(1, 60))
    lic.decided_on = lic.requested_on + timedelta(days=rng.randint(0, 2))
    lic.approved_by, lic.approved_at = run.user, stamp(lic.decided_on)
    lic.provisioning_due_on = lic.decided_on + timedelta(days=5)  # ~3 business days
    if state == "approved":
        # Mostly within the deadline (some reach it tomorrow), a tenth already late.
        late = rng.random() < 0.1
        days = rng.randint(6, 15) if late else rng.randint(0, 5)
        lic.decided_on = lic.requested_on = t - timedelta(days=days)
        lic.approved_at = stamp(lic.decided_on)
        lic.provisioning_due_on = lic.decided_on + timedelta(days=5)
        if lic.provisioning_due_on < t:  # flagged by the nightly run of an earlier day
            lic.provisioning_overdue_since = lic.provisioning_due_on + timedelta(days=1)
        return lic
    if not provisioned:  # cancelled before provisioning
        lic.cancelled_on = min(t, lic.decided_on + timedelta(days=rng.randint(1, 5)))
        lic.state_reason = "Withdrawn by the partner (scale data)"
        return lic
    provision(run, lic, plan, term)
    return lic


def provision(run: Seeding, lic: License, plan: LicensePlan, term: tuple) -> None:
    """Provision `lic` for `term` (starts_on, ends_on, original_ends_on), then take it on
    to its state: expired, cancelled after the grace period, or converted."""
    rng, t, state = run.rng, run.t, plan.state
    policy = run.policies[plan.kind]
    lic.starts_on, lic.ends_on, lic.original_ends_on = term
    lic.provisioned_by, lic.provisioned_at = run.user, stamp(lic.starts_on)
    lic.environment_names = policy.environments
    lic.limits = policy.limits()
    lic.activation_code = activation_code()
    lic.infrastructure = new_infrastructure(run, lic, plan)
    if not lic.infrastructure.is_cloud and lic.infrastructure.registration_id:
        lic.activation_code_used_at = stamp(lic.infrastructure.registered_on)
    if state == "expired":
        lic.expired_on = lic.ends_on + timedelta(days=1)
    elif state == "cancelled":
        lic.expired_on = lic.ends_on + timedelta(days=1)
        lic.cancelled_on = lic.expired_on + timedelta(days=policy.grace_days)
        lic.state_reason = f"grace period of {policy.grace_days} days over"
    elif state == "converted":
        lic.converted_on = min(t, lic.ends_on - timedelta(days=rng.randint(0, 10)))
        lic.converted_on = max(lic.converted_on, lic.starts_on)
        lic.conversion_validated_by = plan.opportunity.solution_architect


def term_of(run: Seeding, plan: LicensePlan) -> tuple[date, date, date]:
    """(starts_on, ends_on, original_ends_on) of a provisioned license in its state."""
    rng, t, state = run.rng, run.t, plan.state
    if state == "expired":
        ends = t - timedelta(days=rng.randint(1, 30))  # expired_on within the grace period
        return ends - timedelta(days=rng.randint(30, 364)), ends, ends
    if state == "cancelled":
        ends = t - timedelta(days=rng.randint(31, 60))  # cancelled after 30 days of grace
        return ends - timedelta(days=rng.randint(30, 364)), ends, ends
    if plan.kind == LicenseKind.TL:
        if state == "converted":
            starts = t - timedelta(days=rng.randint(10, 120))
            return starts, starts + timedelta(days=30), starts + timedelta(days=30)
        starts = t - timedelta(days=rng.randint(0, 29))
        original = starts + timedelta(days=30)
        # Extended by its solution architect when the end lies further than 30 days.
        return starts, max(original, t + timedelta(days=rng.randint(0, 180))), original
    term = plan.partner.current
    ends = term["ends_on"] if term else t + timedelta(days=rng.randint(0, 364))
    starts = min(t, (term["starts_on"] if term else t) + timedelta(days=rng.randint(0, 30)))
    return starts, ends, ends


def activation_code() -> str:
    # 80 random bits like the real ones: unique without a lookup.
    code = secrets.token_hex(8).upper()
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


def new_infrastructure(run: Seeding, lic: License, plan: LicensePlan) -> Infrastructure:
    """The license's infrastructure, numbered on from the last one; most are registered,
    some on an older platform release."""
    rng = run.rng
    run.infra_number += 1
    n = run.infra_number
    cloud = lic.hosting in (Hosting.SHARED_CLOUD, Hosting.DEDICATED_CLOUD)
    infra = Infrastructure(
        name=f"SCALE {plan.kind} {n:07d} {lic.licensee_name}"[:200],
        owner_partner_id=plan.partner.pk,
        customer_name=lic.licensee_name if plan.opportunity else "",
        hosting=lic.hosting,
    )
    if cloud or rng.random() < 0.85:  # on-premises ones not yet registered: no id
        infra.registration_id = f"{REGISTRATION_PREFIX}{n:07d}"
        infra.registered_on = lic.starts_on + timedelta(days=0 if cloud else 2)
        behind = rng.random() < (0.15 if cloud else 0.4)
        infra.platform_release = rng.choice(run.older) if behind else run.latest
    if cloud:
        infra.lifetime_url = f"https://scale-{n:07d}-lifetime.{settings.CLOUD_DOMAIN}"
    return infra


def environments_of(run: Seeding, infra: Infrastructure) -> list[Environment]:
    """The policy's environments (the kind is the name's second word), plus LifeTime in
    the cloud."""
    kind = infra.name.split()[1]
    names = run.policies[kind].environment_list + (["LifeTime"] if infra.is_cloud else [])
    n = infra.registration_id.removeprefix(REGISTRATION_PREFIX).lower() or f"i{infra.pk}"
    return [
        Environment(
            infrastructure_id=infra.pk,
            name=name,
            endpoint_url=(
                f"https://scale-{n}-{name.lower()}.{settings.CLOUD_DOMAIN}"
                if infra.is_cloud
                else ""
            ),
        )
        for name in names
    ]


def seed_extensions(run: Seeding, made: list[Provisioned]) -> None:
    """A few extension requests on expired licenses, waiting for the licensing team, and
    a few trials extended by their solution architect."""
    rng, t = run.rng, run.t
    objs = []
    for row in made:
        if row.state == "expired" and rng.random() < 0.05:
            objs.append(
                Extension(
                    license_id=row.license_id,
                    reason="legal_constraints",
                    requested_until=t + timedelta(days=rng.randint(10, 60)),
                    requested_by=row.partner.region.manager,
                    requested_on=t - timedelta(days=rng.randint(0, 5)),
                )
            )
        elif row.live_trial and rng.random() < 0.03:
            architect = rng.choice(run.architects)
            objs.append(
                Extension(
                    license_id=row.license_id,
                    reason="trial_sales_cycle",
                    evaluation="Second proof-of-concept phase agreed (scale data).",
                    requested_until=t + timedelta(days=rng.randint(10, 120)),
                    state="granted",
                    requested_by=architect,
                    requested_on=t - timedelta(days=rng.randint(1, 30)),
                    decided_by=architect,
                    decided_at=stamp(t - timedelta(days=1)),
                )
            )
    run.insert(Extension, objs, "extensions")
