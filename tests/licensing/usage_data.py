"""Licenses on registered infrastructures and the usage reports they send: data for the
usage admin and dashboard tests, written straight to the models."""

from datetime import timedelta
from decimal import Decimal
from itertools import count

from django.utils import timezone

from licensing.models import Infrastructure, License, LicensePolicy, UsageReport
from tests.factories import TODAY

_serial = count(1)


def licensed(partner, *, by, kind="DL", state="active", registered=True) -> License:
    """A license of `kind` with the policy's limits, on an infrastructure of its own."""
    policy = LicensePolicy.objects.get(kind=kind)
    n = next(_serial)
    infra = Infrastructure.objects.create(
        name=f"{partner.name} infra {n}",
        owner_partner=partner,
        hosting=policy.default_hosting,
        registration_id=f"REG-{partner.pk}-{n}" if registered else "",
        registered_on=TODAY - timedelta(days=60) if registered else None,
    )
    return License.objects.create(
        policy=policy,
        partner=partner,
        licensee_name=partner.name,
        hosting=policy.default_hosting,
        state=state,
        requested_by=by,
        requested_on=TODAY - timedelta(days=90),
        starts_on=TODAY - timedelta(days=80),
        ends_on=TODAY + timedelta(days=280),
        infrastructure=infra,
        limits=policy.limits(),
    )


def report(
    lic: License,
    days_ago: int,
    *,
    aos: int = 100,
    disk: str = "1.5",
    internal: int = 10,
    external: int = 0,
    countries=None,
) -> UsageReport:
    return UsageReport.objects.create(
        infrastructure=lic.infrastructure,
        reported_on=TODAY - timedelta(days=days_ago),
        application_objects=aos,
        disk_gb=Decimal(disk),
        internal_users=internal,
        external_users=external,
        internal_users_by_country=countries if countries is not None else {"PT": internal},
        received_at=timezone.now(),
    )
