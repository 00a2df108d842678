"""License policies (the cheat sheet as data) and platform releases."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Subquery
from rangefilter.filters import DateRangeFilterBuilder

from partners.admin_tools import AuditedAdmin, badge, count_of

from .. import selectors
from ..models import LicensePolicy, PlatformRelease


@admin.register(LicensePolicy)
class LicensePolicyAdmin(AuditedAdmin):
    list_display = [
        "kind",
        "name",
        "allowed_hostings",
        "environments",
        "limits_summary",
        "term",
        "grace_days",
        "reminder_days",
    ]
    search_fields = ["name", "kind", "purpose"]
    fieldsets = [
        (None, {"fields": ["kind", "name", "purpose", "eligibility", "issued_by"]}),
        (
            "Hosting and environments",
            {"fields": ["allowed_hostings", "default_hosting", "environments", "production_use"]},
        ),
        (
            "Limits (copied onto each license at provisioning)",
            {
                "fields": [
                    "max_application_objects",
                    "max_disk_gb",
                    "internal_users",
                    "external_users",
                    "upgrades_allowed",
                ]
            },
        ),
        (
            "Term, extensions and reminders",
            {
                "fields": [
                    "term_days",
                    "extension_max_days",
                    "extension_max_months",
                    "provisioning_business_days",
                    "grace_days",
                    "reminder_days",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The kind is the policy's identity: licenses point at it.
        return ["kind"] if obj else []

    def has_delete_permission(self, request, obj=None):
        # One policy per kind, seeded and pointed at by every license (PROTECT): edited,
        # never deleted.
        return False

    @admin.display(description="limits")
    def limits_summary(self, policy: LicensePolicy) -> str:
        parts = []
        if policy.max_application_objects:
            parts.append(f"{policy.max_application_objects} AOs")
        if policy.max_disk_gb:
            parts.append(f"{policy.max_disk_gb} GB")
        if policy.internal_users:
            parts.append(f"{policy.internal_users} internal")
        if policy.external_users:
            parts.append(f"{policy.external_users:,} external")
        return ", ".join(parts) or "no limits"

    @admin.display(description="term")
    def term(self, policy: LicensePolicy) -> str:
        return f"{policy.term_days} days" if policy.term_days else "to the renewal date"


@admin.register(PlatformRelease)
class PlatformReleaseAdmin(AuditedAdmin):
    list_display = ["version", "released_on", "stability"]
    list_filter = ["is_stable", ("released_on", DateRangeFilterBuilder())]
    search_fields = ["version"]
    date_hierarchy = "released_on"

    def get_queryset(self, request):
        latest = PlatformRelease.objects.filter(is_stable=True).order_by("-released_on", "-id")
        return super().get_queryset(request).annotate(latest_pk=Subquery(latest.values("pk")[:1]))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        latest = PlatformRelease.latest_stable()
        if obj.is_stable and latest and latest.pk == obj.pk:
            behind = selectors.behind_latest_release(obj).count()
            self.message_user(
                request,
                f"{obj.version} is the latest stable release: {count_of(behind, 'infrastructure')} "
                "of live Demo and Internal licenses now need an upgrade (Infrastructures, filter "
                "'behind the latest stable release').",
                messages.WARNING if behind else messages.INFO,
            )

    @admin.display(description="stability", ordering="is_stable")
    def stability(self, release: PlatformRelease) -> str:
        if release.pk == release.latest_pk:
            return badge("latest stable", "ok")
        return badge("stable", "info") if release.is_stable else badge("preview", "warn")
