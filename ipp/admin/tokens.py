"""The deployment check log and the infrastructures' API tokens (issued here or from an
infrastructure's IPP overview, shown once)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from rangefilter.filters import DateTimeRangeFilterBuilder

from licensing.models import Infrastructure
from partners.admin_tools import AuditedAdmin, ReadOnlyMixin, badge
from partners.scoping import is_licensing_team

from .. import services
from ..forms import TokenIssueForm
from ..models import DeploymentCheck, InfrastructureToken
from ..selectors import visible_infrastructures
from .common import infrastructure_link, overview_url


@admin.register(DeploymentCheck)
class DeploymentCheckAdmin(ReadOnlyMixin, AuditedAdmin):
    list_display = [
        "at",
        "verdict",
        "application_key",
        "application",
        "target_registration_id",
        "target",
        "caller",
        "status_code",
        "client_ip",
        "reason",
    ]
    list_select_related = ["application", "target"]
    list_filter = [
        "allowed",
        "status_code",
        ("at", DateTimeRangeFilterBuilder()),
    ]
    search_fields = [
        "application_key",
        "application__name",
        "target_registration_id",
        "caller",
        "client_ip",
    ]
    show_full_result_count = False

    @admin.display(description="answer", ordering="allowed")
    def verdict(self, check: DeploymentCheck) -> str:
        return badge("allowed", "ok") if check.allowed else badge("denied", "danger")


# --- API tokens --------------------------------------------------------------------------


@admin.register(InfrastructureToken)
class InfrastructureTokenAdmin(AuditedAdmin):
    """Tokens are issued here (Add) or from an infrastructure's IPP overview, and shown
    once, on the response page; the list only ever shows their first characters."""

    list_display = [
        "__str__",
        "infrastructure_link",
        "key_prefix",
        "status",
        "created_by",
        "created_at",
        "revoked_by",
        "revoked_at",
    ]
    list_select_related = ["infrastructure", "created_by", "revoked_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["key_prefix", "infrastructure__name", "infrastructure__registration_id"]
    autocomplete_fields = ["infrastructure"]
    form = TokenIssueForm
    actions = ["revoke_selected"]
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["infrastructure"]
        return [
            "infrastructure_link",
            "key_prefix",
            "status",
            "created_by",
            "created_at",
            "revoked_by",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm  # the change page is read-only
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "infrastructure":
            kwargs["queryset"] = Infrastructure.objects.exclude(registration_id="")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return is_licensing_team(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return False  # a token is issued or revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay: the check log refers to them

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_licensing_team(request.user):
            actions.pop("revoke_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            return
        infrastructure = form.cleaned_data["infrastructure"]
        request._ipp_new_token = services.issue_token(infrastructure, by=request.user)
        created = InfrastructureToken.objects.active().get(infrastructure=infrastructure)
        for field in created._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False

    def response_add(self, request, obj, post_url_continue=None):
        return self.show_token(request, obj, request._ipp_new_token)

    def get_urls(self):
        return [
            path(
                "issue/<int:infrastructure_id>/",
                self.admin_site.admin_view(self.issue_view),
                name="ipp_infrastructuretoken_issue",
            ),
            *super().get_urls(),
        ]

    def issue_view(self, request, infrastructure_id: int):
        """The "Issue a new token" button of an infrastructure's IPP overview."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # Who may not issue is refused before the lookup, and the lookup is the user's
        # scope: an id outside it answers as one that does not exist.
        if not self.has_add_permission(request):
            raise PermissionDenied
        infrastructure = get_object_or_404(
            visible_infrastructures(request.user), pk=infrastructure_id
        )
        try:
            token = services.issue_token(infrastructure, by=request.user)
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(overview_url(infrastructure.pk))
        record = InfrastructureToken.objects.active().get(infrastructure=infrastructure)
        return self.show_token(request, record, token)

    def show_token(self, request, record: InfrastructureToken, token: str):
        """The one time a token is shown: in this response, nowhere else (no message,
        no history, no list), and not cached by the browser."""
        context = {
            **self.admin_site.each_context(request),
            "title": "New API token",
            "record": record,
            "infrastructure": record.infrastructure,
            "token": token,
            "api_url": request.build_absolute_uri(reverse("ipp:deployment-check")),
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/ipp/infrastructuretoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        for record in queryset.select_related("infrastructure"):
            try:
                services.revoke_token(record, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{record}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{record}: revoked.", messages.SUCCESS)

    @admin.display(description="infrastructure", ordering="infrastructure__name")
    def infrastructure_link(self, record: InfrastructureToken) -> str:
        return infrastructure_link(record.infrastructure)

    @admin.display(description="status", ordering="revoked_at")
    def status(self, record: InfrastructureToken) -> str:
        return badge("active", "ok") if record.is_active else badge("revoked", "muted")
