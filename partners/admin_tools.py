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


class ReadOnlyMixin:
    """Logs and evidence (sent mail, portal attempts, nightly runs, deployment checks):
    seen in the admin, never added, changed or deleted there."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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


def ask_reason(model_admin, request, queryset, *, action: str, title: str, apply):
    """An admin action that needs a reason: a page asking for it, then `apply(reason)`.

    Returns the page to show, or None once applied (the changelist then reloads).
    """
    from django.contrib.admin import helpers
    from django.template.response import TemplateResponse

    from licensing.forms import ReasonForm

    form = ReasonForm(request.POST if "reason" in request.POST else None)
    if form.is_valid():
        apply(form.cleaned_data["reason"])
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "form": form,
        "action": action,
        "opts": model_admin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/reason_action.html", context)
