"""Demo usage: four weeks of reports from every registered infrastructure of an active
license, so the usage charts, the license list's Usage column and the dashboard's usage
cards have something to show, and the next nightly run opens incidents.

- most partners use a fair share of their limits, growing slowly;
- `NEAR` climbs past 80 % of its Demo license's AOs and users, crossing nothing;
- `OVER` crosses its Demo license's AO and disk limits a week ago, and has a few internal
  users outside its country: the nightly usage check opens incidents for both;
- `SILENT` stopped reporting `SILENT_FOR` days ago: "usage unreported" on the dashboard.

Reports go through `licensing.services.record_usage`, as the platform's would. Dates are
relative to today; a day already reported is left as it is, so a second run adds nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from licensing.choices import LicenseState
from licensing.models import License, UsageReport
from licensing.services import record_usage

DAYS = 28  # up to yesterday
NEAR = "Berlin Bits GmbH"
OVER = "London Rapid Ltd"
SILENT = "Austin Automation LLC"
SILENT_FOR = 10
ABROAD = "IN"  # where OVER's few outside users are


def figures(lic: License, n: int, k: int) -> dict:
    """Day `k` (0 = the first of the `DAYS`) of the `n`-th license's use: deterministic."""
    limits = lic.limits or {}
    aos_limit = limits.get("max_application_objects") or 6000
    disk_limit = limits.get("max_disk_gb") or 40
    users_limit = limits.get("internal_users") or 100
    growth = k / (DAYS - 1)  # 0 → 1 over the four weeks
    wobble = (k * 7 + n * 3) % 5 - 2  # -2 … 2: a weekday's noise
    name = lic.partner.name
    if name == OVER and lic.policy.kind == "DL":
        share, users_share = 0.85 + 0.25 * growth, 0.55
    elif name == NEAR and lic.policy.kind == "DL":
        share, users_share = 0.70 + 0.18 * growth, 0.70 + 0.14 * growth
    else:
        share, users_share = 0.25 + 0.06 * n % 0.3 + 0.08 * growth, 0.2 + 0.05 * (n % 5)
    internal = max(1, round(users_limit * users_share) + wobble)
    countries = {lic.partner.country.code: internal}
    if name == OVER:
        countries = {lic.partner.country.code: internal - 3, ABROAD: 3}
    external = 0
    if limits.get("external_users"):
        external = round(limits["external_users"] * 0.02) + wobble + 2
    return {
        "application_objects": max(0, round(aos_limit * share) + 10 * wobble),
        "disk_gb": f"{disk_limit * share * 0.97 + 0.05 * wobble:.2f}",
        "internal_users": internal,
        "external_users": external,
        "internal_users_by_country": countries,
    }


def reporting_licenses():
    return (
        License.objects.filter(state=LicenseState.ACTIVE, infrastructure__isnull=False)
        .exclude(infrastructure__registration_id="")
        .select_related("infrastructure", "partner", "policy")
        .order_by("pk")
    )


def seed_usage(t: date, stdout=None) -> int:
    """The reports of the `DAYS` days before `t` not sent yet; returns how many were."""
    made = 0
    for n, lic in enumerate(reporting_licenses()):
        infra = lic.infrastructure
        known = set(
            UsageReport.objects.filter(
                infrastructure=infra, reported_on__gte=t - timedelta(days=DAYS)
            ).values_list("reported_on", flat=True)
        )
        last = SILENT_FOR if lic.partner.name == SILENT else 1
        for k in range(DAYS):
            day = t - timedelta(days=DAYS - k)
            if day in known or (t - day).days < last:
                continue
            record_usage(infrastructure=infra, reported_on=day, on=t, **figures(lic, n, k))
            made += 1
    if stdout is not None:
        stdout.write(f"usage: {made} report(s) recorded")
    return made
