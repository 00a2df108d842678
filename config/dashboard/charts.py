"""Server-rendered SVG charts for the admin dashboard: no JavaScript, no CDN, works offline.

Every piece of markup is built with `format_html`, so names and labels are escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta
from django.db.models import Count, QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from licensing.choices import LicenseKind, LicenseState
from partners.admin_tools import count_of

MONTHS = 12
# Colour per kind, stacked bottom to top in this order; readable on the light and dark themes.
KIND_COLOURS = {
    LicenseKind.DL: "#417690",
    LicenseKind.IL: "#5b9a4d",
    LicenseKind.TL: "#d4892a",
}

WIDTH, HEIGHT = 720, 250
LEFT, RIGHT, TOP, BOTTOM = 38, 8, 34, 38
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Month:
    first: date  # the first day of the month
    start: date  # the first day counted: today in the current month
    end: date  # the last day of the month

    @property
    def label(self) -> str:
        return f"{self.first:%b %Y}"


def months_from(day: date, count: int = MONTHS) -> list[Month]:
    """The month of `day` and the following ones; the first starts on `day` itself."""
    first = day.replace(day=1)
    months = []
    for i in range(count):
        month = first + relativedelta(months=i)
        months.append(Month(month, max(month, day), month + relativedelta(months=1, days=-1)))
    return months


def endings_by_day(licenses: QuerySet, start: date, end: date) -> dict[tuple[date, str], int]:
    """{(last day, kind): active licenses ending that day} for days in [start, end]: one
    query, grouped by the indexed date itself (an index-only scan of the license state
    index), which the chart sums into months and the dashboard into its windows."""
    rows = (
        licenses.filter(state=LicenseState.ACTIVE, ends_on__gte=start, ends_on__lte=end)
        .order_by()  # an ordering would join the GROUP BY
        .values_list("ends_on", "policy__kind")
        # count(*), not count(id): the id is not in the index. The join to the policy
        # cannot duplicate rows.
        .annotate(n=Count("*"))
    )
    return {(ends_on, kind): n for ends_on, kind, n in rows}


def expiry_counts(
    licenses: QuerySet, months: list[Month], by_day: dict | None = None
) -> dict[tuple[date, str], int]:
    """{(first day of month, kind): active licenses whose last day falls in it}: one query,
    none when the day counts of the months' span are given."""
    if by_day is None:
        by_day = endings_by_day(licenses, months[0].start, months[-1].end)
    counts: dict[tuple[date, str], int] = {}
    for (ends_on, kind), n in by_day.items():
        key = (ends_on.replace(day=1), kind)
        counts[key] = counts.get(key, 0) + n
    return counts


def chart_span(day: date) -> tuple[date, date]:
    """The first and last day the chart starting on `day` counts."""
    months = months_from(day)
    return months[0].start, months[-1].end


def nice_ceiling(value: int) -> tuple[int, int]:
    """(top of the axis, step between grid lines) for counts up to `value`."""
    if value <= 4:
        return 4, 1
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, int(step))
    return math.ceil(value / step) * step, step


def _join(parts) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def expiry_chart(
    licenses: QuerySet,
    *,
    start: date,
    link: Callable[[str, date, date], str],
    by_day: dict | None = None,
) -> SafeString:
    """Stacked bars per month and kind of the active licenses ending in the next 12 months.

    `link(kind, start, end)` is the changelist URL of one bar segment's licenses;
    `by_day`, when given, is `endings_by_day` over `chart_span(start)`.
    """
    months = months_from(start)
    counts = expiry_counts(licenses, months, by_day)
    totals = [sum(counts.get((m.first, k), 0) for k in KIND_COLOURS) for m in months]
    top, step = nice_ceiling(max(totals, default=0))
    scale = PLOT_H / top
    slot = PLOT_W / len(months)
    bar_w = slot * 0.62

    grid = []
    for value in range(0, top + 1, step):
        y = TOP + PLOT_H - value * scale
        grid.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
                '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 6,
                f"{y + 4:.1f}",
                value,
            )
        )

    bars = []
    for i, (month, total) in enumerate(zip(months, totals, strict=True)):
        x = LEFT + i * slot + (slot - bar_w) / 2
        base = TOP + PLOT_H
        for kind, colour in KIND_COLOURS.items():
            n = counts.get((month.first, kind), 0)
            if not n:
                continue
            height = n * scale
            base -= height
            bars.append(
                format_html(
                    '<a href="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="{}" '
                    'data-kind="{}" data-month="{}" data-count="{}">'
                    "<title>{}, {}: {} ending</title></rect></a>",
                    link(kind, month.start, month.end),
                    f"{x:.1f}",
                    f"{base:.1f}",
                    f"{bar_w:.1f}",
                    f"{height:.1f}",
                    colour,
                    kind,
                    f"{month.first:%Y-%m}",
                    n,
                    month.label,
                    LicenseKind(kind).label,
                    count_of(n, "active license"),
                )
            )
        centre = LEFT + i * slot + slot / 2
        if total:
            bars.append(
                format_html(
                    '<text x="{}" y="{}" class="total" text-anchor="middle">{}</text>',
                    f"{centre:.1f}",
                    f"{base - 4:.1f}",
                    total,
                )
            )
        bars.append(
            format_html(
                '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>'
                '<text x="{}" y="{}" class="axis year" text-anchor="middle">{}</text>',
                f"{centre:.1f}",
                HEIGHT - BOTTOM + 15,
                f"{month.first:%b}",
                f"{centre:.1f}",
                HEIGHT - BOTTOM + 29,
                f"{month.first:%Y}" if i == 0 or month.first.month == 1 else "",
            )
        )

    legend = [
        format_html(
            '<rect x="{}" y="8" width="12" height="12" fill="{}"/>'
            '<text x="{}" y="18" class="legend">{} ({})</text>',
            LEFT + i * 150,
            colour,
            LEFT + i * 150 + 17,
            LicenseKind(kind).label,
            kind,
        )
        for i, (kind, colour) in enumerate(KIND_COLOURS.items())
    ]

    summary = "; ".join(f"{m.label}: {t}" for m, t in zip(months, totals, strict=True))
    empty = (
        format_html(
            '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
            LEFT + PLOT_W / 2,
            TOP + PLOT_H / 2,
            "No active license ends in the next 12 months.",
        )
        if not any(totals)
        else ""
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="expiry-chart" viewBox="0 0 {} {}" '
        'role="img" aria-labelledby="expiry-chart-title expiry-chart-desc">'
        '<title id="expiry-chart-title">Active licenses ending per month, by kind, '
        "from {} to {}</title>"
        '<desc id="expiry-chart-desc">Licenses ending per month: {}.</desc>'
        "{}{}{}{}</svg>",
        WIDTH,
        HEIGHT,
        f"{months[0].start:%Y-%m-%d}",
        f"{months[-1].end:%Y-%m-%d}",
        summary,
        _join(legend),
        _join(grid),
        _join(bars),
        empty,
    )
