"""How close each license is to its limits, from its infrastructure's latest usage report.

The license list's "Usage" column and filters and the dashboard's usage cards ask the same
questions through this module, so a card's number is the row count of the list it opens:
- *over a limit*: the latest report of the last `RECENT_DAYS` days shows a figure above the
  license's limit (the nightly usage check opens an incident for it);
- *near a limit*: at `NEAR_PERCENT` % of a limit or more, over none;
- *unreported*: on a registered infrastructure, no report in the last `RECENT_DAYS` days
  (`selectors.usage_unreported`).
Only active licenses are judged. Everything is a subquery on the license row: a page of the
list, a filter or a count costs one query however many licenses there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Greatest, NullIf
from django.db.models.lookups import GreaterThanOrEqual

from .choices import LicenseState
from .models import License, UsageReport
from .selectors import usage_unreported

NEAR_PERCENT = 80
RECENT_DAYS = 7


@dataclass(frozen=True)
class Measure:
    """One figure of a usage report and the license limit it is held against."""

    field: str  # on UsageReport
    limit: str  # key of License.limits
    label: str  # short, for a column or an axis
    unit: str = ""
    name: str = ""  # in words, for a sentence (an incident's notes); the label when empty

    @property
    def words(self) -> str:
        return self.name or self.label


MEASURES = (
    Measure("application_objects", "max_application_objects", "AOs", name="application objects"),
    Measure("disk_gb", "max_disk_gb", "disk", "GB"),
    Measure("internal_users", "internal_users", "internal users"),
    Measure("external_users", "external_users", "external users"),
)


def figure_text(value) -> str:
    """2500, 6.2, 7: a figure or limit as people write it (no trailing zeros)."""
    if isinstance(value, Decimal | float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


@dataclass(frozen=True)
class Level:
    """A figure against its limit (None: no limit), and the share of the limit it uses."""

    measure: Measure
    figure: int | Decimal
    limit: int | Decimal | None

    @property
    def percent(self) -> float | None:
        if self.limit is None or not self.limit:
            return None
        return float(self.figure) * 100 / float(self.limit)

    @property
    def over(self) -> bool:
        return self.limit is not None and self.figure > self.limit

    @property
    def near(self) -> bool:
        limited = self.limit is not None and self.limit > 0
        close = limited and float(self.figure) * 100 >= float(self.limit) * NEAR_PERCENT
        return close and not self.over

    def __str__(self) -> str:
        unit = f" {self.measure.unit}" if self.measure.unit else ""
        figure, limit = figure_text(self.figure), figure_text(self.limit)
        if self.limit is None:
            return f"{self.measure.label}: {figure}{unit} (no limit)"
        return f"{self.measure.label}: {figure}{unit} of {limit}{unit} ({self.percent or 0:.0f} %)"


def levels(report: UsageReport, limits: dict) -> list[Level]:
    """Each figure of `report` against the limit of the same name in `limits`."""
    return [Level(m, getattr(report, m.field), (limits or {}).get(m.limit)) for m in MEASURES]


def highest(found: list[Level]) -> Level | None:
    """The level closest to (or furthest over) its limit, None when nothing is limited."""
    limited = [level for level in found if level.percent is not None or level.over]
    return max(limited, key=lambda level: level.percent or float("inf"), default=None)


# --- The same questions, in SQL ------------------------------------------------------------


def _latest(field: str) -> Subquery:
    # One report per infrastructure and day: the day alone orders them, and the unique
    # index (infrastructure, reported_on) read backwards gives the latest without a sort.
    reports = UsageReport.objects.filter(infrastructure=OuterRef("infrastructure_id"))
    return Subquery(reports.order_by("-reported_on").values(field)[:1])


def _limit(measure: Measure):
    # SQLite reads a JSON null as the text "null" (PostgreSQL as NULL): no limit, both.
    text = NullIf(KeyTextTransform(measure.limit, "limits"), Value("null"))
    return Cast(text, FloatField())


def with_usage(licenses: QuerySet[License]) -> QuerySet[License]:
    """`licenses` annotated with their infrastructure's latest report: `usage_reported_on`,
    `usage_<figure>` and `limit_<figure>` for each measure, `usage_percent` (the highest
    share of a limit, 0 when nothing is limited, None without a report) and `usage_rank`
    (the same, -1 without a report: an order that puts the unreported last on every
    database). Annotated once: a second call returns `licenses` as they are."""
    if "usage_rank" in licenses.query.annotations:
        return licenses
    annotations = {"usage_reported_on": _latest("reported_on")}
    percents = []
    for m in MEASURES:
        annotations[f"usage_{m.field}"] = _latest(m.field)
        annotations[f"limit_{m.field}"] = _limit(m)
        share = (
            Cast(F(f"usage_{m.field}"), FloatField())
            * Value(100.0)
            / NullIf(F(f"limit_{m.field}"), Value(0.0))
        )
        percents.append(Coalesce(share, Value(0.0)))
    annotated = licenses.annotate(**annotations)
    percent = Case(
        When(usage_reported_on__isnull=True, then=Value(None, output_field=FloatField())),
        default=Greatest(*percents),
        output_field=FloatField(),
    )
    return annotated.annotate(usage_percent=percent, usage_rank=Coalesce(percent, Value(-1.0)))


# The latest report, joined once: every condition below is applied in the one filter() call
# that makes the join, so that all of them read the same report row.
REPORT = "infrastructure__usage_reports"


def _latest_day() -> Subquery:
    # One report per infrastructure and day: the unique index read backwards.
    reports = UsageReport.objects.filter(infrastructure=OuterRef("infrastructure_id"))
    return Subquery(reports.order_by("-reported_on").values("reported_on")[:1])


def caps() -> dict:
    """The license's limits as `cap_<figure>` aliases (None: no limit), for `over_q`."""
    return {f"cap_{m.field}": _limit(m) for m in MEASURES}


def over_q() -> Q:
    """A figure of the report joined as `REPORT` above its limit (aliases of `caps()`)."""
    over = Q()
    for m in MEASURES:
        over |= Q(
            **{f"cap_{m.field}__isnull": False, f"{REPORT}__{m.field}__gt": F(f"cap_{m.field}")}
        )
    return over


class CountsOutside(Func):
    """True when `counts`, a JSON object of counts by country code, has a count above 0
    under a code other than `country`'s: users outside the partner's country, in SQL."""

    output_field = BooleanField()
    arity = 2

    def _sql(self, compiler, each: str):
        (counts, counts_params), (country, country_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        # Compiled column references and a function name of ours; values are parameters.
        sql = (
            f"EXISTS (SELECT 1 FROM {each}({counts}) AS c "  # noqa: S608
            f"WHERE c.key <> {country} AND CAST(c.value AS NUMERIC) > 0)"
        )
        return sql, (*counts_params, *country_params)

    def as_sql(self, compiler, connection, **extra):
        return self._sql(compiler, "json_each")  # SQLite

    def as_postgresql(self, compiler, connection, **extra):
        return self._sql(compiler, "jsonb_each_text")


def _within_q() -> Q:
    within = Q()
    for m in MEASURES:
        within &= Q(**{f"cap_{m.field}__isnull": True}) | Q(
            **{f"{REPORT}__{m.field}__lte": F(f"cap_{m.field}")}
        )
    return within


def _near_q() -> Q:
    near = Q()
    for m in MEASURES:
        # figure × 100 ≥ limit × 80, as Level.near says it.
        share = GreaterThanOrEqual(
            Cast(F(f"{REPORT}__{m.field}"), FloatField()) * Value(100.0),
            F(f"cap_{m.field}") * Value(float(NEAR_PERCENT)),
        )
        near |= Q(share, **{f"cap_{m.field}__gt": 0})
    return near


def _judged(licenses: QuerySet[License], day: date, condition: Q) -> QuerySet[License]:
    """Active licenses whose infrastructure's latest report is dated in the last
    `RECENT_DAYS` days and meets `condition` (on that report): one join to the report per
    license, found by the unique (infrastructure, day) index."""
    since = day - timedelta(days=RECENT_DAYS)
    latest = Q(
        state=LicenseState.ACTIVE,
        **{
            f"{REPORT}__reported_on__gte": since,
            f"{REPORT}__reported_on__lte": day,
            f"{REPORT}__reported_on": _latest_day(),
        },
    )
    return licenses.alias(**caps()).filter(latest & condition)


def over_limit(licenses: QuerySet[License], day: date) -> QuerySet[License]:
    """Active licenses whose latest recent report is above one of their limits."""
    return _judged(licenses, day, over_q())


def near_limit(licenses: QuerySet[License], day: date) -> QuerySet[License]:
    """Active licenses at `NEAR_PERCENT` % of a limit or more, over none."""
    return _judged(licenses, day, _near_q() & _within_q())


def unreported_since(day: date) -> date:
    """The first day a report must be dated for a license not to be unreported on `day`."""
    return day - timedelta(days=RECENT_DAYS)


def unreported(licenses: QuerySet[License], day: date) -> QuerySet[License]:
    """Active licenses on a registered infrastructure that reported nothing recently."""
    return usage_unreported(
        licenses.filter(state=LicenseState.ACTIVE), since=unreported_since(day), until=day
    )
