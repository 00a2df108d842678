"""The dashboard's usage cards: licenses over a limit, near one, and unreported.

Counted with `licensing.usage_levels`, the questions the license list's "usage" filter asks
on the link's rows, so each number is the row count of the list it opens; the three counts
are one query (UNION ALL of one count each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, QuerySet, Value

from licensing import tallies, usage_levels


@dataclass(frozen=True)
class UsageCard:
    key: str
    title: str
    filter: str  # the value of the license list's `usage` filter
    help: str
    tone: str


CARDS = (
    UsageCard(
        "usage-over-limit",
        "Licenses over a limit",
        "over",
        "The latest usage report is above a limit: the nightly check opens an incident.",
        "alarm",
    ),
    UsageCard(
        "usage-near-limit",
        f"Licenses near a limit (≥ {usage_levels.NEAR_PERCENT} %)",
        "near",
        "Worth a word with the partner before the limit is crossed.",
        "attention",
    ),
    UsageCard(
        "usage-unreported",
        "Usage unreported",
        "unreported",
        f"Active, registered, no usage report for {usage_levels.RECENT_DAYS} days.",
        "attention",
    ),
)
ASKS = {
    "over": usage_levels.over_limit,
    "near": usage_levels.near_limit,
    "unreported": usage_levels.unreported,
}


def usage_counts(
    licenses: QuerySet, day: date, kept: Callable[[], tallies.Kept] | None = None
) -> dict[str, int]:
    """{filter value: licenses it selects} among `licenses` (the user's scope), in one query;
    "unreported", which counts most of the active licenses, from the kept counts
    (`licensing.tallies`) when the user sees whole regions."""
    asks = dict(ASKS)
    counts = {}
    if kept is not None:
        del asks["unreported"]
        counts["unreported"] = kept().unreported
    parts = [
        ask(licenses, day)
        .order_by()
        .annotate(part=Value(name))
        .values("part")
        .annotate(n=Count("*"))
        .values_list("part", "n")
        for name, ask in asks.items()
    ]
    counts.update(parts[0].union(*parts[1:], all=True))
    return {name: counts.get(name, 0) for name in ASKS}
