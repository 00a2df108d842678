"""Infrastructures, their environments, and which need a platform upgrade."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Subquery

from partners.admin_tools import RegionScopedAdmin, ScopedChoicesMixin, badge
from partners.scoping import is_licensing_team

from .. import selectors, services
from ..models import Environment, Infrastructure, PlatformRelease
from .usage import InfrastructureUsageMixin


class EnvironmentInline(ScopedChoicesMixin, admin.TabularInline):
    model = Environment
    extra = 0
    # The server serial is the partner's (portal) and the licensing team's (release) only.
    fields = ["name", "endpoint_url", "serial_number", "registered_on"]
    readonly_fields = ["serial_number", "registered_on"]


class UpgradeFilter(admin.SimpleListFilter):
    title = "platform release"
    parameter_name = "upgrade"

    def lookups(self, request, model_admin):
        return [("needed", "Behind the latest stable release"), ("current", "Up to date")]

    def queryset(self, request, queryset):
        if self.value() not in ("needed", "current"):
            return queryset
        # The same answer as the daily upgrade report and the new-release message.
        behind = selectors.behind_latest_release().values("pk")
        if self.value() == "needed":
            return queryset.filter(pk__in=behind)
        return queryset.exclude(pk__in=behind)


@admin.register(Infrastructure)
class InfrastructureAdmin(InfrastructureUsageMixin, RegionScopedAdmin):
    region_path = "owner_partner__region"
    architect_path = "licenses__opportunity__solution_architect"
    list_display = [
        "name",
        "registration_id",
        "owner_partner",
        "customer_name",
        "hosting",
        "release",
        "registered_on",
    ]
    list_select_related = ["owner_partner", "platform_release"]
    list_filter = [UpgradeFilter, "hosting", "platform_release", "owner_partner__region"]
    search_fields = ["name", "registration_id", "customer_name", "owner_partner__name"]
    autocomplete_fields = ["owner_partner"]
    inlines = [EnvironmentInline]
    # Each server registered and released (and why) shows on the infrastructure's history.
    history_related = ((Environment, "infrastructure_id"),)
    readonly_fields = ["usage_over_time"]
    actions = ["record_upgrade"]
    show_full_result_count = False

    def get_queryset(self, request):
        # The latest stable release as subqueries: no extra query per row.
        latest = PlatformRelease.objects.filter(is_stable=True).order_by("-released_on", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_version=Subquery(latest.values("version")[:1]),
                latest_released_on=Subquery(latest.values("released_on")[:1]),
            )
        )

    @admin.display(description="platform release", ordering="platform_release__released_on")
    def release(self, infra: Infrastructure) -> str:
        release = infra.platform_release
        if release is None:
            return "—"
        if infra.latest_released_on and release.released_on < infra.latest_released_on:
            return badge(
                f"{release.version} · upgrade",
                "warn",
                f"behind the latest stable release {infra.latest_version}",
            )
        return release.version

    def has_delete_permission(self, request, obj=None):
        # Licenses, permissions and tokens hold on to it (PROTECT): never deleted here.
        return False

    def has_record_upgrade_permission(self, request) -> bool:
        # The role rule services.record_upgrade checks (require_licensing_team).
        return is_licensing_team(request.user)

    @admin.action(
        description="Record the upgrade to the latest stable release",
        permissions=["record_upgrade"],
    )
    def record_upgrade(self, request, queryset):
        for infra in queryset.select_related("platform_release"):
            try:
                services.record_upgrade(infra, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{infra}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{infra}: upgraded to {infra.platform_release}.")
