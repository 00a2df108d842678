from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from rangefilter.filters import DateRangeFilterBuilder, DateTimeRangeFilterBuilder

from licensing.forms import ReasonForm
from licensing.models import Infrastructure
from partners.admin_tools import (
    AuditedAdmin,
    ReadOnlyMixin,
    RegionScopedAdmin,
    TransitionsMixin,
    badge,
)
from partners.models import Contact
from partners.scoping import is_channel_manager, is_licensing_team, scope

from . import services
from .choices import PermissionState
from .forms import CheckForm, GrantForm, PermissionRequestForm, TokenIssueForm
from .models import (
    Application,
    DeploymentCheck,
    DeploymentPermission,
    InfrastructureToken,
    permission_queue_order,
)

INFRA_REGION = "owner_partner__region"
CHOOSE_CONTACT = "Choose the developer's contact who consented."
RECENT_CHECKS = 20

STATE_TONES = {
    PermissionState.REQUESTED: "info",
    PermissionState.GRANTED: "ok",
    PermissionState.REFUSED: "muted",
    PermissionState.REVOKED: "danger",
}


def overview_url(infrastructure_id: int) -> str:
    return reverse("admin:ipp_infrastructure_overview", args=[infrastructure_id])


def infrastructure_link(infrastructure: Infrastructure | None) -> str:
    if infrastructure is None:
        return "—"
    return format_html('<a href="{}">{}</a>', overview_url(infrastructure.pk), infrastructure)


def with_tones(permissions) -> list[DeploymentPermission]:
    rows = list(permissions)
    for permission in rows:
        permission.tone = STATE_TONES[permission.state]
    return rows


def visible_infrastructures(user):
    return scope(
        Infrastructure.objects.select_related("owner_partner__region", "platform_release"),
        user,
        region_path=INFRA_REGION,
    )


# --- Applications ------------------------------------------------------------------------


@admin.register(Application)
class ApplicationAdmin(RegionScopedAdmin):
    region_path = "developed_in__owner_partner__region"
    list_display = ["name", "key", "developed_in_link", "owner"]
    list_select_related = ["developed_in__owner_partner"]
    list_filter = ["developed_in__hosting", "developed_in__owner_partner__region"]
    search_fields = ["name", "key", "developed_in__name", "developed_in__registration_id"]
    autocomplete_fields = ["developed_in"]
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "developed_in"]
        return ["name", "key", "developed_in_link", "owner", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # The key is what runtimes report and the infrastructure is what permissions are
        # built on: neither changes once the application exists.
        return ["key", "developed_in_link", "owner", "created_at"] if obj else []

    def get_urls(self):
        return [
            path(
                "infrastructure/<int:pk>/",
                self.admin_site.admin_view(self.overview_view),
                name="ipp_infrastructure_overview",
            ),
            path(
                "infrastructure/<int:pk>/check/",
                self.admin_site.admin_view(self.check_view),
                name="ipp_infrastructure_check",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="developed in", ordering="developed_in__name")
    def developed_in_link(self, application: Application) -> str:
        return infrastructure_link(application.developed_in)

    @admin.display(description="developer", ordering="developed_in__owner_partner__name")
    def owner(self, application: Application) -> str:
        return str(application.developed_in.owner_partner or "—")

    # --- The IPP overview of one infrastructure ---

    def _overview_infrastructure(self, request, pk: int) -> Infrastructure:
        if not (
            self.has_view_permission(request)
            or request.user.has_perm("ipp.view_deploymentpermission")
        ):
            raise PermissionDenied
        return get_object_or_404(visible_infrastructures(request.user), pk=pk)

    def overview_view(self, request, pk: int):
        """An infrastructure's applications, permissions out and in, its API token and the
        recent deployment checks about it, in a constant number of queries."""
        infrastructure = self._overview_infrastructure(request, pk)
        user = request.user
        permissions = DeploymentPermission.objects.select_related(
            "source__owner_partner", "target__owner_partner", "consent_by"
        ).prefetch_related("applications")
        show_checks = user.has_perm("ipp.view_deploymentcheck")
        context = {
            **self.admin_site.each_context(request),
            "title": f"IPP overview: {infrastructure}",
            "opts": self.model._meta,
            "infrastructure": infrastructure,
            "applications": infrastructure.applications.all(),
            "permissions_out": with_tones(permissions.filter(source=infrastructure)),
            "permissions_in": with_tones(permissions.filter(target=infrastructure)),
            "licenses": infrastructure.licenses.select_related("policy").order_by("-id"),
            "show_checks": show_checks,
            "checks": (
                DeploymentCheck.objects.filter(target=infrastructure).select_related("application")[
                    :RECENT_CHECKS
                ]
                if show_checks
                else []
            ),
            "token": InfrastructureToken.objects.active()
            .filter(infrastructure=infrastructure)
            .select_related("created_by")
            .first(),
            "can_issue_token": is_licensing_team(user) and bool(infrastructure.registration_id),
            "check_form": CheckForm(),
        }
        return TemplateResponse(request, "admin/ipp/infrastructure_overview.html", context)

    def check_view(self, request, pk: int):
        """Ask the decision for one application on this infrastructure; logged like an API
        call, with the admin user as the caller."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        infrastructure = self._overview_infrastructure(request, pk)
        form = CheckForm(request.POST)
        application = None
        if form.is_valid():
            application = (
                Application.objects.select_related("developed_in")
                .filter(key=form.cleaned_data["application_key"])
                .first()
            )
        if application is None:
            self.message_user(request, "Unknown application key.", messages.ERROR)
        else:
            decision = services.check_and_log(
                application=application,
                target=infrastructure,
                caller=f"admin:{request.user.get_username()}",
                client_ip=request.META.get("REMOTE_ADDR") or None,
            )
            self.message_user(
                request,
                f"{application} on {infrastructure}: {decision}",
                messages.SUCCESS if decision.allowed else messages.WARNING,
            )
        return HttpResponseRedirect(overview_url(infrastructure.pk))


# --- Deployment permissions --------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    form: type | None = None
    danger: bool = False


CONSENT = Transition("consent", "Record consent")
GRANT = Transition("grant", "Grant", GrantForm)
REFUSE = Transition("refuse", "Refuse", ReasonForm, danger=True)
REVOKE = Transition("revoke", "Revoke", ReasonForm, danger=True)
TRANSITIONS = {t.name: t for t in (CONSENT, GRANT, REFUSE, REVOKE)}


def available_transitions(permission: DeploymentPermission, user) -> list[Transition]:
    """The buttons this user may press on this permission; the services check again."""
    found = []
    requested = permission.state == PermissionState.REQUESTED
    team = is_licensing_team(user)
    if requested and not permission.has_consent:
        partner = permission.source.owner_partner
        if team or (
            partner is not None
            and is_channel_manager(user)
            and partner.region.channel_managers.filter(pk=user.pk).exists()
        ):
            found.append(CONSENT)
    if team and requested:
        if permission.has_consent:
            found.append(GRANT)
        found.append(REFUSE)
    if team and permission.state == PermissionState.GRANTED:
        found.append(REVOKE)
    return found


def run_transition(name: str, permission: DeploymentPermission, user, data) -> None:
    """Call the service for one transition with the posted data; ValidationError if refused."""
    if name == "consent":
        contact = None
        if str(data.get("contact", "")).isdigit():
            contact = Contact.objects.filter(pk=data["contact"]).first()
        if contact is None:
            raise ValidationError(CHOOSE_CONTACT)
        services.record_consent(permission, contact=contact, by=user)
        return
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise ValidationError(f"Unknown action {name}.")
    form = transition.form(data)
    if not form.is_valid():
        raise ValidationError([m for errors in form.errors.values() for m in errors])
    if name == "grant":
        services.grant(permission, by=user, valid_until=form.cleaned_data["valid_until"])
    elif name == "refuse":
        services.refuse(permission, by=user, reason=form.cleaned_data["reason"])
    elif name == "revoke":
        services.revoke(permission, by=user, reason=form.cleaned_data["reason"])


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
    change_form_template = "admin/ipp/deploymentpermission/change_form.html"
    actions = ["grant_selected", "refuse_selected", "revoke_selected"]
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

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_licensing_team(request.user):
            for name in self.actions:
                actions.pop(name, None)
        return actions

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

    transition_names = frozenset(TRANSITIONS)

    def transitions_for(self, permission, user):
        return available_transitions(permission, user)

    def run_transition(self, name, permission, user, data):
        return run_transition(name, permission, user, data)

    def transition_message(self, permission, name):
        state = permission.get_state_display().lower()
        return f"{permission}: {TRANSITIONS[name].label.lower()} done ({state})."

    def transition_context(self, request, permission, transitions):
        contacts = []
        if CONSENT in transitions and permission.source.owner_partner_id:
            contacts = Contact.objects.filter(partner_id=permission.source.owner_partner_id)
        return {"contacts": contacts, "grant_form": GrantForm()}

    def transition_view(self, request, object_id, name):
        permission = self.get_object(request, object_id)
        if permission is not None and not self.has_change_permission(request, permission):
            raise PermissionDenied
        return super().transition_view(request, object_id, name)

    # --- Actions ---

    def _bulk(self, request, queryset, name, data) -> None:
        done = self.run_on_each(request, queryset, name, data)
        if done:
            label = TRANSITIONS[name].label.lower()
            self.message_user(
                request, f"{len(done)} permission(s): {label} done.", messages.SUCCESS
            )

    def _with_form(self, request, queryset, name, action):
        transition = TRANSITIONS[name]
        form = transition.form(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            self._bulk(request, queryset, name, request.POST)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{transition.label} {queryset.count()} deployment permission(s)",
            "permissions": queryset,
            "form": form,
            "action": action,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/ipp/deploymentpermission/action_form.html", context)

    @admin.action(description="Grant selected requests…")
    def grant_selected(self, request, queryset):
        return self._with_form(request, queryset, "grant", "grant_selected")

    @admin.action(description="Refuse selected requests…")
    def refuse_selected(self, request, queryset):
        return self._with_form(request, queryset, "refuse", "refuse_selected")

    @admin.action(description="Revoke selected permissions…")
    def revoke_selected(self, request, queryset):
        return self._with_form(request, queryset, "revoke", "revoke_selected")

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


# --- Deployment checks (log) -------------------------------------------------------------


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
        infrastructure = get_object_or_404(Infrastructure, pk=infrastructure_id)
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
