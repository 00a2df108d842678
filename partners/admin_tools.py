"""Admin building blocks shared by every app: history, region scope, state badges."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from .scoping import scope_by_region


class AuditedAdmin(SimpleHistoryAdmin):
    """Every model's admin: history view on, history read-only (no revert)."""

    # SIMPLE_HISTORY_REVERT_DISABLED (settings) makes the history detail page read-only.
    history_list_display = ["history_change_reason"]


class RegionScopedAdmin(AuditedAdmin):
    """Limits rows to the user's regions. `region_path` leads from the model to its Region."""

    region_path = "region"

    def get_queryset(self, request):
        return scope_by_region(super().get_queryset(request), request.user, self.region_path)


def badge(text: str, tone: str, title: str = "") -> str:
    return format_html('<span class="badge badge-{}" title="{}">{}</span>', tone, title, text)


class YesNoFilter(admin.SimpleListFilter):
    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]
