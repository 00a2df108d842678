"""Scale partners and what hangs on them: two contacts each, their terms, some compliance
incidents; then the opportunities, one per planned trial and a few more per partner."""

from __future__ import annotations

from datetime import date, timedelta

from licensing.choices import LicenseKind
from partners.models import ComplianceIncident, Contact, Opportunity, Partner, PartnershipTerm
from partners.services import refresh_standing

from .context import Seeding
from .plans import LicensePlan, PartnerPlan, plan_partners

OPPORTUNITY_STATUSES = ["registered", "accepted", "approved", "won", "lost"]
INCIDENT_KINDS = ["resale", "customer_specific_app", "external_access", "over_limit", "other"]
PROSPECTS = ["Atlantic", "Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Umbrella"]


def seed_partners(run: Seeding, count: int, offset: int) -> list[PartnerPlan]:
    """Plan the partners, insert them (their plans get their ids), then their contacts,
    terms and incidents."""
    rng, t = run.rng, run.t
    plans = plan_partners(run, count, offset)
    objs = [new_partner(run, plan) for plan in plans]
    for plan, obj in zip(plans, run.insert(Partner, objs), strict=True):
        plan.pk = obj.pk

    contacts, terms, incidents = [], [], []
    for plan in plans:
        slug = f"p{plan.index:06d}.scale.example.com"
        contacts += [
            Contact(partner_id=plan.pk, role=role, name=f"{who} {plan.index:06d}", email=email)
            for role, who, email in (
                ("financial", "Finance Office", f"finance@{slug}"),
                ("technical", "Tech Lead", f"tech@{slug}"),
            )
        ]
        terms += [
            PartnershipTerm(partner_id=plan.pk, **{k: v for k, v in term.items() if k != "current"})
            for term in plan.terms
        ]
        if plan.profile == "open_incident":
            opened = t - timedelta(days=rng.randint(5, 200))
            incidents.append(new_incident(run, plan, opened, None))
        elif plan.profile != "prospective" and rng.random() < 0.08:
            opened = t - timedelta(days=rng.randint(60, 700))
            incidents.append(
                new_incident(run, plan, opened, opened + timedelta(days=rng.randint(5, 50)))
            )
    run.insert(Contact, contacts)
    run.insert(PartnershipTerm, terms, "partnership terms")
    run.insert(ComplianceIncident, incidents, "compliance incidents")
    # Bulk inserts send no signals: the standing kept on each partner, as for the day of
    # reference (`run.t`), the one the seeded terms and incidents are planned around.
    refresh_standing([plan.pk for plan in plans], on=t)
    return plans


def new_partner(run: Seeding, plan: PartnerPlan) -> Partner:
    """The partner of `plan`, authorized for Sales and/or Delivery as its profile allows."""
    rng, t, profile = run.rng, run.t, plan.profile
    sales = delivery = None
    if profile not in ("prospective", "not_authorized"):
        sales = t - timedelta(days=rng.randint(30, 1500)) if rng.random() < 0.8 else None
        if sales is None or rng.random() < 0.5:
            delivery = t - timedelta(days=rng.randint(30, 1500))
    elif profile == "not_authorized" and rng.random() < 0.5:
        sales = t + timedelta(days=rng.randint(30, 200))  # authorized later this year
    status = {"former": "former", "prospective": "prospective"}.get(profile, "active")
    return Partner(
        name=plan.name,
        status=status,
        country=plan.country,
        region_id=plan.region.pk,
        channel_manager_id=plan.region.manager.pk,
        sales_authorized_on=sales,
        delivery_authorized_on=delivery,
    )


def new_incident(run: Seeding, plan: PartnerPlan, opened: date, resolved: date | None):
    return ComplianceIncident(
        partner_id=plan.pk,
        kind=run.rng.choice(INCIDENT_KINDS),
        opened_on=opened,
        resolved_on=resolved,
        notes="Found in a scale audit." if resolved is None else "Resolved after review.",
    )


def seed_opportunities(run: Seeding, partners: list[PartnerPlan], licenses: list[LicensePlan]):
    """One opportunity per trial (approved, won for converted ones, some lost for
    refused or cancelled ones), and a few more per partner in every status."""
    rng = run.rng
    objs = []
    for plan in licenses:
        if plan.kind != LicenseKind.TL or plan.partner.profile == "prospective":
            continue
        status = "approved"
        if plan.state == "converted":
            status = "won"
        elif plan.state in ("refused", "cancelled") and rng.random() < 0.4:
            status = "lost"
        plan.opportunity = new_opportunity(run, plan.partner, status, len(objs))
        objs.append(plan.opportunity)
    extra = 0
    for partner in partners:
        if partner.profile != "prospective" and rng.random() < 0.5:
            status = OPPORTUNITY_STATUSES[extra % len(OPPORTUNITY_STATUSES)]  # each in turn
            objs.append(new_opportunity(run, partner, status, len(objs)))
            extra += 1
    run.insert(Opportunity, objs, "opportunities")


def new_opportunity(run: Seeding, partner: PartnerPlan, status: str, n: int) -> Opportunity:
    rng, t = run.rng, run.t
    registered = t - timedelta(days=rng.randint(40, 400))
    closed = None
    if status in ("won", "lost"):
        closed = min(t, registered + timedelta(days=rng.randint(20, 200)))
    return Opportunity(
        partner_id=partner.pk,
        prospect_name=f"{rng.choice(PROSPECTS)} Prospect {partner.index:06d}-{n}",
        prospect_country=partner.country,
        registered_on=registered,
        status=status,
        solution_architect=None if status == "registered" else rng.choice(run.architects),
        closed_on=closed,
    )
