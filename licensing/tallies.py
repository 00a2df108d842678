"""The dashboard's counts of active licenses, read from the counts the database keeps.

Counting the licenses themselves grows with the desk: at 200,000 licenses the expiry chart,
the trials awaiting conversion and the licenses with usage unreported read 40, 36 and 52 ms
of index entries on every counted visit. `LicenseTally` holds the same numbers per region,
kept by triggers in the transaction of every change (migration 0025), so these questions
read a few hundred rows whatever the number of licenses. They answer for users who see
licenses by whole regions (the licensing team: all of them; a channel manager: hers), on
PostgreSQL; `by_regions` says None otherwise, and the dashboard counts the licenses.
"""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import Q, Sum

from partners.scoping import RegionScope, region_scope

from .models import LicenseTally

ENDING = "ending:"
AWAITING = "awaiting"
REPORTED = "reported"


def by_regions(user) -> RegionScope | None:
    """The user's licenses as whole regions when the tallies can count them, else None."""
    if connection.vendor != "postgresql":
        return None
    return region_scope(user)


def _tallies(scope: RegionScope):
    tallies = LicenseTally.objects.all()
    if not scope.everything:
        tallies = tallies.filter(region_id__in=scope.regions)
    return tallies


def endings_by_day(scope: RegionScope, start: date, end: date) -> dict[tuple[date, str], int]:
    """{(last day, kind): active licenses ending that day} for days in [start, end], as
    `config.dashboard.charts.endings_by_day` counts them."""
    rows = (
        _tallies(scope)
        .filter(measure__startswith=ENDING, day__gte=start, day__lte=end)
        .values_list("day", "measure")
        .annotate(total=Sum("n"))
        .filter(total__gt=0)
        .order_by()
    )
    return {(day, measure.removeprefix(ENDING)): total for day, measure, total in rows}


def awaiting_conversion(scope: RegionScope) -> int:
    """Active trials whose deal is won (`License.objects.awaiting_conversion()`)."""
    return _sum(_tallies(scope).filter(measure=AWAITING))


def unreported(scope: RegionScope, *, since: date) -> int:
    """Active licenses on a registered infrastructure whose latest usage report is older
    than `since`, or that never reported (`selectors.usage_unreported` from `since` to
    today: reports are never dated in the future)."""
    return _sum(_tallies(scope).filter(Q(day__lt=since) | Q(day__isnull=True), measure=REPORTED))


def _sum(tallies) -> int:
    return tallies.aggregate(total=Sum("n", default=0))["total"]
