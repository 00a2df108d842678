"""seed_scale's stages in the order they run, and the summary it prints at the end."""

from __future__ import annotations

from django.db.models import Count

from ipp import regions as ipp_regions
from ipp.models import Application, DeploymentCheck, DeploymentPermission
from licensing import regions as licensing_regions
from licensing.models import Environment, Extension, Infrastructure, License, LicensePolicy
from partners import regions as partners_regions
from partners.models import (
    ComplianceIncident,
    Contact,
    Opportunity,
    Partner,
    PartnershipTerm,
    Region,
)

from .context import Seeding
from .ipp import seed_ipp
from .licenses import seed_licenses
from .partners import seed_opportunities, seed_partners
from .plans import plan_licenses
from .reference import seed_releases, seed_users_and_regions

COUNTED = [
    Region,
    Partner,
    Contact,
    PartnershipTerm,
    ComplianceIncident,
    Opportunity,
    License,
    Infrastructure,
    Environment,
    Extension,
    Application,
    DeploymentPermission,
    DeploymentCheck,
]


def seed(run: Seeding, n_partners: int, n_licenses: int, offset: int) -> None:
    """`n_partners` partners numbered after `offset` and `n_licenses` licenses, with all
    that hangs on them. The order matters: every stage draws from the one generator."""
    run.out.write(
        f"seeding {n_partners:,} partners and {n_licenses:,} licenses (day of reference {run.t})"
    )
    run.policies = {p.kind: p for p in LicensePolicy.objects.all()}
    seed_users_and_regions(run)
    seed_releases(run)
    partners = seed_partners(run, n_partners, offset)
    licenses = plan_licenses(run, partners, n_licenses)
    seed_opportunities(run, partners, licenses)
    provisioned = seed_licenses(run, licenses)
    seed_ipp(run, provisioned)
    # Bulk inserts send no signals: the rows carry their owner's region from the run
    # (`Seeding.carry_regions`); these fill any whose owner an earlier run inserted.
    partners_regions.fill_regions()
    licensing_regions.fill_regions()
    ipp_regions.fill_regions()


def summary(elapsed: float) -> str:
    """The rows of every model (and their history rows), licenses by kind and state."""
    by = License.objects.order_by()
    states = dict(by.values_list("state").annotate(n=Count("pk")).order_by("state"))
    kinds = dict(by.values_list("policy__kind").annotate(n=Count("pk")).order_by("policy__kind"))
    counts = ", ".join(f"{m._meta.verbose_name_plural}: {m.objects.count():,}" for m in COUNTED)
    history = sum(m.history.count() for m in COUNTED)
    return (
        f"scale data ready in {elapsed:.1f} s: {counts}; history rows: {history:,}\n"
        f"  licenses by kind: {kinds}\n"
        f"  licenses by state: {states}\n"
        f"  countries: {Partner.objects.values('country').distinct().count()}"
    )
