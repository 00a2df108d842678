"""The dashboard's counts of active licenses (and of partners not in good standing), read
from the counts the database keeps.

Counting the rows themselves grows with the desk: at 200,000 licenses the expiry chart,
the trials awaiting conversion and the licenses with usage unreported read 40, 36 and 52 ms
of index entries on every counted visit, and at 2,000,000 the partners not in good standing
85 ms. `LicenseTally` holds the same numbers per region, kept by triggers in the
transaction of every change (migrations 0025 and 0027), so one query of a few hundred rows
answers all four whatever the number of licenses. It answers for users who see their rows
by whole regions (the licensing team: all of them; a channel manager: hers), on
PostgreSQL; `by_regions` says None otherwise, and the dashboard counts the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Q, Sum

from partners.scoping import RegionScope, region_scope

from .models import LicenseTally

ENDING = "ending:"
AWAITING = "awaiting"
REPORTED = "reported"
NOT_GOOD = "not_good"


@dataclass(frozen=True)
class Kept:
    # {(last day, kind): active licenses ending that day}, as charts.endings_by_day.
    endings: dict[tuple[date, str], int]
    # Active trials whose deal is won (`License.objects.awaiting_conversion()`).
    awaiting: int
    # Active licenses on a registered infrastructure whose latest usage report is older
    # than `since`, or that never reported: `selectors.usage_unreported` from `since` to
    # today (reports are never dated in the future).
    unreported: int
    # Partners not in good standing (the standing kept on the partner, `standing_good`).
    not_good: int


def by_regions(user) -> RegionScope | None:
    """The user's licenses as whole regions when the tallies can count them, else None."""
    if connection.vendor != "postgresql":
        return None
    return region_scope(user)


def read(scope: RegionScope, *, start: date, end: date, since: date) -> Kept:
    """The kept counts of the licenses in `scope`: endings from `start` to `end`, awaiting,
    unreported since `since`. One query."""
    tallies = LicenseTally.objects.all()
    if not scope.everything:
        tallies = tallies.filter(region_id__in=scope.regions)
    rows = (
        tallies.filter(
            Q(measure__startswith=ENDING, day__gte=start, day__lte=end)
            | Q(measure__in=[AWAITING, NOT_GOOD])
            | Q(Q(day__lt=since) | Q(day__isnull=True), measure=REPORTED)
        )
        .values_list("measure", "day")
        .annotate(total=Sum("n"))
        .order_by()
    )
    endings, counts = {}, {AWAITING: 0, REPORTED: 0, NOT_GOOD: 0}
    for measure, day, total in rows:
        if measure.startswith(ENDING):
            if total:
                endings[(day, measure.removeprefix(ENDING))] = total
        else:
            counts[measure] += total
    return Kept(
        endings=endings,
        awaiting=counts[AWAITING],
        unreported=counts[REPORTED],
        not_good=counts[NOT_GOOD],
    )
