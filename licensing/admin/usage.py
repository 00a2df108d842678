"""Usage in the admin: the reports as received, and on licenses and infrastructures the
use over time against the limits, the latest figures, and the list's "Usage" column and
filters (`licensing.usage_levels` asks the questions)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from rangefilter.filters import DateRangeFilterBuilder

from partners.admin_tools import ReadOnlyMixin, RegionScopedAdmin, badge
from partners.dates import today

from .. import usage_levels
from ..choices import LicenseState
from ..models import Infrastructure, License, UsageReport
from ..usage_charts import DAYS, latest_figures, reports_between, usage_chart


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyMixin, RegionScopedAdmin):
    """What each platform reported, as received: nobody edits it (partners.roles LOGS)."""

    region_path = "infrastructure__owner_partner__region"
    architect_path = "infrastructure__licenses__opportunity__solution_architect"
    list_display = [
        "reported_on",
        "infrastructure",
        "application_objects",
        "disk_gb",
        "internal_users",
        "external_users",
        "received_at",
    ]
    list_select_related = ["infrastructure"]
    list_filter = [
        ("reported_on", DateRangeFilterBuilder()),
        "infrastructure__owner_partner__region",
    ]
    search_fields = ["infrastructure__name", "infrastructure__registration_id"]
    show_full_result_count = False
    fields = [
        "infrastructure",
        "reported_on",
        "application_objects",
        "disk_gb",
        "internal_users",
        "external_users",
        "internal_users_by_country",
        "received_at",
    ]


# --- The license list ------------------------------------------------------------------------


class UsageFilter(admin.SimpleListFilter):
    """The dashboard's usage cards link here: the same questions, the same rows."""

    title = "usage"
    parameter_name = "usage"

    def lookups(self, request, model_admin):
        return [
            ("near", f"Over {usage_levels.NEAR_PERCENT} % of a limit"),
            ("over", "Over a limit"),
            ("unreported", f"Usage unreported for {usage_levels.RECENT_DAYS} days"),
        ]

    def queryset(self, request, queryset):
        ask = {
            "near": usage_levels.near_limit,
            "over": usage_levels.over_limit,
            "unreported": usage_levels.unreported,
        }.get(self.value())
        return ask(queryset, today()) if ask else queryset


class UsageChangeList(ChangeList):
    """The license list with each license's latest usage, in the page's one query."""

    def get_queryset(self, request, exclude_parameters=None):
        self.root_queryset = usage_levels.with_usage(self.root_queryset)
        return super().get_queryset(request, exclude_parameters)


def _usage_cell(lic: License) -> str:
    reported_on = getattr(lic, "usage_reported_on", None)
    if reported_on is None:
        return "—"
    found = [
        usage_levels.Level(m, getattr(lic, f"usage_{m.field}"), (lic.limits or {}).get(m.limit))
        for m in usage_levels.MEASURES
    ]
    top = usage_levels.highest(found)
    stale = reported_on < today() - timedelta(days=usage_levels.RECENT_DAYS)
    detail = "; ".join(str(level) for level in found) + f" — reported {reported_on:%Y-%m-%d}"
    if top is None:
        return badge("no limit", "muted", detail)
    tone = "muted" if stale else "danger" if top.over else "warn" if top.near else "ok"
    text = f"{top.percent:.0f} % {top.measure.label}" if top.percent is not None else "over"
    return badge(text + (" · old" if stale else ""), tone, detail)


class LicenseUsageMixin:
    """For LicenseAdmin: the "Usage" column (sortable by the highest share of a limit, the
    limit named, every figure in the tooltip) and the usage panel of the license page."""

    def get_changelist(self, request, **kwargs):
        return UsageChangeList

    @admin.display(description="usage", ordering="usage_rank")
    def usage(self, lic: License) -> str:
        return _usage_cell(lic)

    @admin.display(description=f"usage, last {DAYS} days")
    def usage_over_time(self, lic: License) -> str:
        if not lic.pk or lic.infrastructure_id is None:
            return "—"
        return usage_panel(lic.infrastructure_id, lic.limits)


def usage_panel(infrastructure_id: int, limits: dict) -> str:
    """The latest figures against the limits, then the chart of the last `DAYS` days."""
    day = today()
    reports = reports_between(infrastructure_id, day - timedelta(days=DAYS - 1), day)
    latest = reports[-1] if reports else None
    if latest is None:
        latest = (
            UsageReport.objects.filter(infrastructure_id=infrastructure_id)
            .order_by("-reported_on", "-pk")
            .first()
        )
    return latest_figures(latest, limits) + usage_chart(reports, limits, end=day)


def current_license(infra: Infrastructure) -> License | None:
    """The license whose limits the infrastructure's use is held against: the active one,
    else the latest."""
    active = LicenseState.ACTIVE
    licenses = infra.licenses.order_by("-pk")
    return licenses.filter(state=active).first() or licenses.first()


class InfrastructureUsageMixin:
    """For InfrastructureAdmin: the usage panel of the infrastructure's page."""

    @admin.display(description=f"usage, last {DAYS} days")
    def usage_over_time(self, infra: Infrastructure) -> str:
        if not infra.pk:
            return "—"
        lic = current_license(infra)
        return usage_panel(infra.pk, lic.limits if lic else {})
