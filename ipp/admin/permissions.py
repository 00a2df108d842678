"""Deployment permissions: the licensing team's queue, decided from the transitions table
(consent, grant, refuse, revoke: buttons on the page and list actions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html, format_html_join
from rangefilter.filters import DateRangeFilterBuilder

from partners.admin_tools import (
    ReasonForm,
    RegionScopedAdmin,
    Transition,
    TransitionsMixin,
    badge,
)
from partners.scoping import is_channel_manager, is_licensing_team, scope

from .. import services
from ..choices import PermissionState
from ..forms import ConsentForm, GrantForm, PermissionRequestForm
from ..models import DeploymentPermission, permission_queue_order
from .common import STATE_TONES, infrastructure_link


def may_consent(permission: DeploymentPermission, user) -> bool:
    """The licensing team, or a channel manager of the developer's region."""
    if permission.state != PermissionState.REQUESTED or permission.has_consent:
        return False
    partner = permission.source.owner_partner
    return is_licensing_team(user) or (
        partner is not None
        and is_channel_manager(user)
        and partner.region.channel_managers.filter(pk=user.pk).exists()
    )


def team_when(state, *, consent: bool | None = None):
    def offered(permission: DeploymentPermission, user) -> bool:
        wanted = consent is None or permission.has_consent == consent
        return permission.state == state and wanted and is_licensing_team(user)

    return offered


TRANSITIONS = (
    Transition(
        "consent",
        "Record consent",
        run=lambda p, user, data: services.record_consent(p, contact=data["contact"], by=user),
        offered=may_consent,
        form=ConsentForm,
        past="consent recorded",
    ),
    Transition(
        "grant",
        "Grant",
        run=lambda p, user, data: services.grant(p, by=user, valid_until=data["valid_until"]),
        offered=team_when(PermissionState.REQUESTED, consent=True),
        may=is_licensing_team,
        form=GrantForm,
        action="Grant selected requests…",
        past="granted",
        next_step=lambda p: (
            f"deployable there until {p.valid_until:%Y-%m-%d}"
            if p.valid_until
            else "deployable there until revoked"
        ),
    ),
    Transition(
        "refuse",
        "Refuse",
        run=lambda p, user, data: services.refuse(p, by=user, reason=data["reason"]),
        offered=team_when(PermissionState.REQUESTED),
        may=is_licensing_team,
        form=ReasonForm.saying(
            label="Why is this request refused?",
            help_text="The requester reads it; kept in the permission's history.",
        ),
        danger=True,
        action="Refuse selected requests…",
        past="refused",
    ),
    Transition(
        "revoke",
        "Revoke",
        run=lambda p, user, data: services.revoke(p, by=user, reason=data["reason"]),
        offered=team_when(PermissionState.GRANTED),
        may=is_licensing_team,
        form=ReasonForm.saying(
            label="Why is this permission revoked?",
            help_text="Kept in the permission's history.",
        ),
        confirm="Revoke this permission? Its applications may no longer be deployed there.",
        danger=True,
        action="Revoke selected permissions…",
        past="revoked",
    ),
)


class ConsentFilter(admin.SimpleListFilter):
    title = "developer's consent"
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        return [("yes", "Recorded"), ("no", "Not recorded")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(consent_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(consent_at__isnull=True)
        return queryset


@admin.register(DeploymentPermission)
class DeploymentPermissionAdmin(TransitionsMixin, RegionScopedAdmin):
    """The licensing team's queue: requests with consent first, then those waiting for it."""

    region_path = "source__owner_partner__region"
    list_display = [
        "permission",
        "source_link",
        "target_link",
        "application_names",
        "state_badge",
        "consent",
        "requested_on",
        "valid_until",
        "decided_by",
    ]
    list_display_links = ["permission"]
    list_select_related = [
        "source__owner_partner",
        "target__owner_partner",
        "consent_by",
        "decided_by",
    ]
    list_filter = [
        "state",
        ConsentFilter,
        "source__owner_partner__region",
        ("requested_on", DateRangeFilterBuilder()),
        ("valid_until", DateRangeFilterBuilder()),
    ]
    search_fields = [
        "source__name",
        "source__registration_id",
        "source__owner_partner__name",
        "target__name",
        "target__registration_id",
        "target__customer_name",
        "applications__name",
    ]
    autocomplete_fields = ["source", "applications"]
    show_full_result_count = False
    transitions = TRANSITIONS
    transition_noun = "permission"
    form = PermissionRequestForm
    fieldsets = [
        (None, {"fields": ["permission", "source_link", "target_link", "application_names"]}),
        ("State", {"fields": ["state_badge", "reason", "valid_until", "current_answers"]}),
        ("Requested", {"fields": ["requested_by", "requested_on"]}),
        ("Developer's consent", {"fields": ["consent", "consent_recorded_by"]}),
        ("Decided", {"fields": ["decided_by", "decided_at", "revoked_by", "revoked_at"]}),
    ]

    def get_queryset(self, request):
        queryset = super(RegionScopedAdmin, self).get_queryset(request)
        return scope(
            queryset.prefetch_related("applications"), request.user, region_path=self.region_path
        )

    def get_ordering(self, request):
        # Work waiting for the licensing team first: consented requests, then the others.
        # Expressions, not annotations, so foreign-key choice lists can use them too.
        return permission_queue_order()

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["source", "applications", "target_registration_id"]})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Nothing is edited by hand: the state moves through the buttons on this page.
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm  # the change page is read-only
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def has_delete_permission(self, request, obj=None):
        return False  # refused or revoked, never deleted: its history must stay

    def save_model(self, request, obj, form, change):
        if change:
            return  # read-only; transitions go through transition_view
        data = form.cleaned_data
        created = services.request_permission(
            applications=data["applications"],
            source=data["source"],
            target=data["target"],
            by=request.user,
        )
        for field in created._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """The service set the applications; the form must not set them again."""

    def transition_view(self, request, object_id, name):
        # Refused before the lookup: a role without the permission gets one answer for any
        # id, not 403 for a permission that exists and 404 for one that does not.
        if not self.has_change_permission(request):
            raise PermissionDenied
        permission = self.get_object(request, object_id)
        if permission is not None and not self.has_change_permission(request, permission):
            raise PermissionDenied
        return super().transition_view(request, object_id, name)

    # --- Columns ---

    @admin.display(description="permission", ordering="id")
    def permission(self, permission: DeploymentPermission) -> str:
        return str(permission)

    @admin.display(description="source (developer)", ordering="source__name")
    def source_link(self, permission: DeploymentPermission) -> str:
        owner = permission.source.owner_partner
        return format_html(
            "{}<br><small>{}</small>", infrastructure_link(permission.source), owner or "—"
        )

    @admin.display(description="target", ordering="target__name")
    def target_link(self, permission: DeploymentPermission) -> str:
        target = permission.target
        holder = target.customer_name or target.owner_partner or "—"
        return format_html("{}<br><small>{}</small>", infrastructure_link(target), holder)

    @admin.display(description="applications")
    def application_names(self, permission: DeploymentPermission) -> str:
        return ", ".join(a.name for a in permission.applications.all()) or "—"

    @admin.display(description="state", ordering="state")
    def state_badge(self, permission: DeploymentPermission) -> str:
        return badge(
            permission.get_state_display(), STATE_TONES[permission.state], permission.reason
        )

    @admin.display(description="consent", ordering="consent_at")
    def consent(self, permission: DeploymentPermission) -> str:
        if not permission.has_consent:
            return badge("no consent yet", "warn")
        return format_html(
            "{}<br><small>{}</small>",
            permission.consent_by.name,
            f"{permission.consent_at:%Y-%m-%d %H:%M}",
        )

    @admin.display(description="answer today, per application")
    def current_answers(self, permission: DeploymentPermission) -> str:
        # Not logged: check_deployment writes nothing; the API and overview checks are.
        rows = []
        for application in permission.applications.select_related("developed_in"):
            decision = services.check_deployment(application=application, target=permission.target)
            rows.append(
                (
                    application.name,
                    badge(
                        "allowed" if decision.allowed else "denied",
                        "ok" if decision.allowed else "danger",
                    ),
                    decision.reason,
                )
            )
        return format_html_join("", "<p><strong>{}</strong> {} {}</p>", rows) or "—"
