"""An infrastructure's use over time against its license's limits, drawn on the server.

Small multiples, one per figure of the usage report (AOs, disk, internal and external
users): the daily figure as a line, the limit as a dashed line and the `NEAR_PERCENT` %
mark as a dotted one, so a figure about to cross is seen before the nightly check opens an
incident. SVG built with `format_html` only, in the style of the dashboard's chart: no
JavaScript, nothing fetched.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .models import UsageReport
from .usage_levels import MEASURES, NEAR_PERCENT, Level, Measure, figure_text, highest, levels

DAYS = 60
WIDTH, HEIGHT = 340, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 24, 22
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
LINE, LIMIT, NEAR = "#417690", "#ba2121", "#d4892a"
# No quote, angle bracket or ampersand: escaping leaves it as it is.
STYLE = (
    ".usage-charts{display:flex;flex-wrap:wrap;gap:8px}"
    ".usage-chart .grid{stroke:var(--hairline-color,#ddd);stroke-width:1}"
    ".usage-chart .axis{fill:var(--body-quiet-color,#666);font-size:10px}"
    ".usage-chart .legend{fill:var(--body-fg,#333);font-size:12px;font-weight:600}"
    ".usage-latest td,.usage-latest th{padding:2px 10px 2px 0}"
    ".usage-latest .usage-danger td{color:#ba2121;font-weight:600}"
    ".usage-latest .usage-warn td{color:#8a5300}"
)


def reports_between(infrastructure_id: int, start: date, end: date) -> list[UsageReport]:
    """The infrastructure's reports dated `start` to `end`, oldest first: one query."""
    return list(
        UsageReport.objects.filter(
            infrastructure_id=infrastructure_id, reported_on__gte=start, reported_on__lte=end
        ).order_by("reported_on")
    )


def _ceiling(value: float) -> float:
    """A round top for an axis showing values up to `value`."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(
        m * magnitude for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def _panel(
    measure: Measure, reports: list[UsageReport], limit, start: date, end: date
) -> SafeString:
    values = [(r.reported_on, float(getattr(r, measure.field))) for r in reports]
    top = _ceiling(max([v for _, v in values] + ([float(limit) * 1.05] if limit else [0])))
    span = max((end - start).days, 1)

    def x(day: date) -> float:
        return LEFT + PLOT_W * (day - start).days / span

    def y(value: float) -> float:
        return TOP + PLOT_H - PLOT_H * value / top

    parts = [
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
            '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
            LEFT,
            WIDTH - RIGHT,
            f"{y(value):.1f}",
            f"{y(value):.1f}",
            LEFT - 4,
            f"{y(value) + 4:.1f}",
            _number(value),
        )
        for value in (0, top / 2, top)
    ]
    if limit:
        for value, colour, dash, name in (
            (float(limit), LIMIT, "6 3", "limit"),
            (float(limit) * NEAR_PERCENT / 100, NEAR, "2 3", f"{NEAR_PERCENT} %"),
        ):
            parts.append(
                format_html(
                    '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-dasharray="{}" '
                    'class="usage-{}"><title>{}: {}</title></line>',
                    LEFT,
                    WIDTH - RIGHT,
                    f"{y(value):.1f}",
                    f"{y(value):.1f}",
                    colour,
                    dash,
                    "limit" if name == "limit" else "near",
                    name,
                    _number(value),
                )
            )
    if values:
        points = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in values)
        parts.append(
            format_html(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', points, LINE
            )
        )
        parts.append(
            format_html_join(
                "",
                '<circle cx="{}" cy="{}" r="2" fill="{}" data-day="{}" data-value="{}">'
                "<title>{}: {}</title></circle>",
                (
                    (
                        f"{x(day):.1f}",
                        f"{y(value):.1f}",
                        LIMIT if limit is not None and value > float(limit) else LINE,
                        f"{day:%Y-%m-%d}",
                        _number(value),
                        f"{day:%Y-%m-%d}",
                        _number(value),
                    )
                    for day, value in values
                ),
            )
        )
    unit = f" ({measure.unit})" if measure.unit else ""
    heading = f"{measure.label}{unit}" + (
        f", limit {_number(float(limit))}" if limit else ", no limit"
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart" viewBox="0 0 {} {}" '
        'width="{}" height="{}" role="img" data-measure="{}"><title>{} from {} to {}</title>'
        '<text x="{}" y="14" class="legend">{}</text>{}'
        '<text x="{}" y="{}" class="axis">{}</text>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text></svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        measure.field,
        heading,
        f"{start:%Y-%m-%d}",
        f"{end:%Y-%m-%d}",
        LEFT,
        heading,
        format_html_join("", "{}", ((p,) for p in parts)),
        LEFT,
        HEIGHT - 6,
        f"{start:%d %b}",
        WIDTH - RIGHT,
        HEIGHT - 6,
        f"{end:%d %b}",
    )


def usage_chart(reports: list[UsageReport], limits: dict, *, end: date) -> SafeString:
    """The `DAYS` days up to `end`: one small chart per figure, against `limits`."""
    start = end - timedelta(days=DAYS - 1)
    shown = [r for r in reports if start <= r.reported_on <= end]
    if not shown:
        return format_html(
            '<p class="usage-none">No usage reported from {} to {}.</p>',
            f"{start:%Y-%m-%d}",
            f"{end:%Y-%m-%d}",
        )
    panels = format_html_join(
        "",
        "{}",
        ((_panel(m, shown, (limits or {}).get(m.limit), start, end),) for m in MEASURES),
    )
    return format_html('<style>{}</style><div class="usage-charts">{}</div>', STYLE, panels)


def level_badge_tone(level: Level) -> str:
    return "danger" if level.over else "warn" if level.near else "ok"


def latest_figures(report: UsageReport | None, limits: dict) -> SafeString:
    """The latest report's figures against the limits, the highest share first named."""
    if report is None:
        return format_html("{}", "No usage reported yet.")
    found = levels(report, limits)
    top = highest(found)
    rows = format_html_join(
        "",
        '<tr class="usage-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                level_badge_tone(level),
                level.measure.label,
                figure_text(level.figure),
                "—" if level.limit is None else figure_text(level.limit),
                "—"
                if level.percent is None
                else f"{level.percent:.0f} %" + (" · over" if level.over else ""),
            )
            for level in found
        ),
    )
    countries = ", ".join(
        f"{code}: {n}" for code, n in sorted((report.internal_users_by_country or {}).items())
    )
    return format_html(
        "<p>Reported for {} (received {}){}.</p>"
        '<table class="usage-latest"><thead><tr><th>figure</th><th>reported</th>'
        "<th>limit</th><th>of the limit</th></tr></thead><tbody>{}</tbody></table>"
        "<p>Internal users by country: {}</p>",
        f"{report.reported_on:%Y-%m-%d}",
        f"{report.received_at:%Y-%m-%d %H:%M}",
        f"; highest: {top}" if top else "",
        rows,
        countries or "—",
    )
