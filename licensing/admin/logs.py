"""The desk's logs, read-only: mail sent, portal attempts, nightly runs."""

from __future__ import annotations

from django.contrib import admin
from rangefilter.filters import DateRangeFilterBuilder, DateTimeRangeFilterBuilder

from partners.admin_tools import AuditedAdmin, ReadOnlyMixin, RegionScopedAdmin, badge

from ..models import NightlyRun, Notification, RegistrationAttempt


@admin.register(Notification)
class NotificationAdmin(ReadOnlyMixin, RegionScopedAdmin):
    region_path = "partner__region"
    architect_path = "license__opportunity__solution_architect"
    list_display = ["kind", "recipient", "subject", "license", "partner", "created_at", "sent_at"]
    list_select_related = ["license__policy", "partner"]
    list_filter = [
        "kind",
        ("sent_at", admin.EmptyFieldListFilter),
        ("created_at", DateTimeRangeFilterBuilder()),
    ]
    search_fields = ["recipient", "subject", "key", "partner__name"]
    show_full_result_count = False


@admin.register(RegistrationAttempt)
class RegistrationAttemptAdmin(ReadOnlyMixin, AuditedAdmin):
    list_display = ["at", "outcome", "client_ip", "registration_id", "license", "detail"]
    list_select_related = ["license__policy"]
    list_filter = ["outcome", ("at", DateTimeRangeFilterBuilder())]
    search_fields = ["client_ip", "registration_id"]
    show_full_result_count = False


@admin.register(NightlyRun)
class NightlyRunAdmin(ReadOnlyMixin, AuditedAdmin):
    list_display = ["day", "part", "status_badge", "started_at", "took", "summary"]
    list_filter = ["status", ("day", DateRangeFilterBuilder())]
    date_hierarchy = "day"
    show_full_result_count = False

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: NightlyRun) -> str:
        tone = {"finished": "ok", "running": "info", "failed": "danger", "skipped": "muted"}
        return badge(run.get_status_display(), tone[run.status], run.error)

    @admin.display(description="duration")
    def took(self, run: NightlyRun) -> str:
        return f"{run.duration.total_seconds():.1f} s" if run.duration else "—"

    @admin.display(description="what it did")
    def summary(self, run: NightlyRun) -> str:
        done = {k: v for k, v in run.counts.items() if v}
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()) or "nothing due"
