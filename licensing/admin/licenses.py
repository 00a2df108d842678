"""Licenses: the request form, the transitions table that drives the buttons and list
actions, the queue's filters and the license page."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rangefilter.filters import DateRangeFilterBuilder

from partners.admin_tools import (
    ReadOnlyMixin,
    ReasonForm,
    RegionScopedAdmin,
    Transition,
    TransitionsMixin,
    badge,
    count_of,
    said,
)
from partners.dates import today
from partners.scoping import is_licensing_team

from .. import services
from ..calendar import business_days_between
from ..choices import LIVE_STATES, LicenseKind, LicenseState
from ..models import Extension, License, Notification, license_queue_order
from . import next_steps
from .license_list import LicenseListMixin
from .license_page import LicensePageMixin
from .request_forms import LicenseRequestForm
from .search import LicenseSearchMixin
from .usage import LicenseUsageMixin, UsageFilter

STATE_TONES = {
    LicenseState.REQUESTED: "info",
    LicenseState.APPROVED: "warn",
    LicenseState.ACTIVE: "ok",
    LicenseState.EXPIRED: "danger",
    LicenseState.REFUSED: "muted",
    LicenseState.CANCELLED: "muted",
    LicenseState.CONVERTED: "ok",
}


RefusalReason = ReasonForm.saying(
    services.REASON_REQUIRED,
    label="Why is this request refused?",
    help_text="The requester reads it in the refusal mail; kept in the license's history.",
)
CancellationReason = ReasonForm.saying(
    services.REASON_REQUIRED,
    label="Why is this license cancelled?",
    help_text="The partner's contacts read it in the cancellation mail; kept in the history.",
)


def is_trials_architect(lic: License, user) -> bool:
    return bool(lic.opportunity_id) and lic.opportunity.solution_architect_id == user.pk


def team_when(*states):
    """Offered to the licensing team on a license in one of `states`."""
    return lambda lic, user: lic.state in states and is_licensing_team(user)


TRANSITIONS = (
    Transition(
        "approve",
        "Approve",
        run=lambda lic, user, data: services.approve(lic, by=user),
        offered=team_when(LicenseState.REQUESTED),
        may=is_licensing_team,
        action="Approve selected requests",
        past="approved",
        next_step=next_steps.after_approval,
    ),
    Transition(
        "refuse",
        "Refuse",
        run=lambda lic, user, data: services.refuse(lic, by=user, reason=data["reason"]),
        offered=team_when(LicenseState.REQUESTED),
        may=is_licensing_team,
        form=RefusalReason,
        danger=True,
        action="Refuse selected requests…",
        past="refused",
        next_step=next_steps.after_refusal,
    ),
    Transition(
        "provision",
        "Provision",
        run=lambda lic, user, data: services.provision(lic, by=user),
        offered=team_when(LicenseState.APPROVED),
        may=is_licensing_team,
        action="Provision selected approved licenses",
        past="provisioned",
    ),
    Transition(
        "cancel",
        # Not "Cancel": on a form that reads as "cancel this form".
        "Cancel license…",
        run=lambda lic, user, data: services.cancel(lic, by=user, reason=data["reason"]),
        offered=team_when(*LIVE_STATES),
        may=is_licensing_team,
        form=CancellationReason,
        confirm="Cancel this license? Its applications go offline; this cannot be undone.",
        danger=True,
        action="Cancel selected licenses…",
        past="cancelled",
        next_step=next_steps.after_cancellation,
        confirm_page=True,
    ),
    Transition(
        "convert",
        "Validate conversion…",
        run=lambda lic, user, data: services.convert(lic, by=user),
        offered=lambda lic, user: (
            lic.state == LicenseState.ACTIVE and is_trials_architect(lic, user)
        ),
        confirm="Validate the conversion? The trial becomes the customer's license.",
        past="converted",
        next_step=next_steps.after_conversion,
        confirm_page=True,
    ),
)


class ConversionFilter(admin.SimpleListFilter):
    title = "trial conversion"
    parameter_name = "conversion"

    def lookups(self, request, model_admin):
        return [("awaiting", "Deal won, awaiting validation")]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.awaiting_conversion()
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    title = "provisioning"
    parameter_name = "provisioning"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("due", "Waiting, within deadline")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.provisioning_overdue(today())
        if self.value() == "due":
            return queryset.filter(state=LicenseState.APPROVED, provisioning_due_on__gte=today())
        return queryset


class NotificationInline(ReadOnlyMixin, admin.TabularInline):
    model = Notification
    extra = 0
    fields = ["kind", "recipient", "subject", "sent_at"]
    readonly_fields = fields
    show_change_link = False


class ExtensionInline(ReadOnlyMixin, admin.TabularInline):
    model = Extension
    extra = 0
    fields = ["reason", "requested_until", "state", "requested_by", "decided_by", "evaluation"]
    readonly_fields = fields


@admin.register(License)
class LicenseAdmin(
    LicensePageMixin,
    LicenseUsageMixin,
    LicenseListMixin,
    LicenseSearchMixin,
    TransitionsMixin,
    RegionScopedAdmin,
):
    region_path = "partner__region"
    architect_path = "opportunity__solution_architect"
    # The state second, so a phone shows it; kind and region inside the columns they
    # qualify (hosting under the number), the start date on the license's page, so the list
    # fits a laptop's width with its dates whole (CSS in templates/admin/base_site.html).
    list_display = [
        "license_cell",
        "state_badge",
        "partner_cell",
        "deadline",
        "ends_on",
        "requested_on",
        "usage",
    ]
    list_display_links = ["license_cell"]
    list_select_related = ["policy", "partner__region", "opportunity"]
    list_filter = [
        OverdueFilter,
        UsageFilter,
        ConversionFilter,
        "state",
        "policy__kind",
        "hosting",
        "partner__region",
        ("requested_on", DateRangeFilterBuilder()),
        ("ends_on", DateRangeFilterBuilder()),
        ("provisioning_due_on", DateRangeFilterBuilder()),
    ]
    search_fields = ["licensee_name", "partner__name", "infrastructure__registration_id"]
    autocomplete_fields = ["partner", "opportunity"]
    show_full_result_count = False
    inlines = [ExtensionInline, NotificationInline]
    change_form_template = "admin/licensing/license/change_form.html"
    transitions = TRANSITIONS
    transition_noun = "license"
    fieldsets = [
        (None, {"fields": ["policy", "partner", "opportunity", "licensee_name", "hosting"]}),
        ("State", {"fields": ["state_badge", "state_reason", "deadline"]}),
        (
            "Requested and decided",
            {
                "fields": [
                    "requested_by",
                    "requested_on",
                    "approved_by",
                    "approved_at",
                    "decided_on",
                    "provisioning_due_on",
                    "provisioning_overdue_since",
                ]
            },
        ),
        (
            "Provisioned",
            {
                "fields": [
                    "provisioned_by",
                    "provisioned_at",
                    "starts_on",
                    "ends_on",
                    "original_ends_on",
                    "environments",
                    "limits_table",
                    "activation",
                    "infrastructure_detail",
                    "renewals",
                ]
            },
        ),
        ("Usage", {"fields": ["usage_over_time"]}),
        (
            "Ended or converted",
            {
                "fields": [
                    "expired_on",
                    "cancelled_on",
                    "converted_on",
                    "conversion_validated_by",
                ]
            },
        ),
    ]

    def get_ordering(self, request):
        # Expressions, not an annotation, so that foreign-key choices can use them too.
        return license_queue_order()

    def get_fieldsets(self, request, obj=None):
        if obj is None and services.kinds_requested_by(request.user) == (LicenseKind.TL,):
            return [(None, {"fields": ["opportunity", "kind", "hosting"]})]
        if obj is None:
            return [(None, {"fields": ["partner", "kind", "hosting", "opportunity"]})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Nothing on a license is edited by hand: states move through the buttons above.
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LicenseRequestForm
            form = super().get_form(request, obj, change=change, **kwargs)
            form.user = request.user
            return form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # a license is cancelled, never deleted: its history must stay

    def save_model(self, request, obj, form, change):
        if change:
            return  # read-only; transitions go through transition_view
        data = form.cleaned_data
        created = services.request_license(
            partner=data["partner"],
            kind=data["kind"],
            by=request.user,
            hosting=data.get("hosting") or None,
            opportunity=data.get("opportunity"),
        )
        obj.pk, obj.policy, obj.state = created.pk, created.policy, created.state
        obj.licensee_name = created.licensee_name
        obj._state.adding = False

    def added_message(self, lic):
        return said(lic, "request added successfully", next_steps.after_request(lic))

    def transition_done(self, request, lic, name):
        if name == "provision":
            return self.show_activation_codes(request, [lic])
        return None

    def transitions_done(self, request, done, name):
        if name == "provision":
            return self.show_activation_codes(request, done)
        return None

    def show_activation_codes(self, request, licenses):
        """The one time an activation code is shown: in this response, nowhere else."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Provisioned: activation codes",
            "licenses": licenses,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/licensing/license/provisioned.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="region", ordering="partner__region__name")
    def region(self, lic: License) -> str:
        return str(lic.partner.region)

    @admin.display(description="kind", ordering="policy__kind")
    def kind(self, lic: License) -> str:
        return lic.policy.kind

    @admin.display(description="state", ordering="state")
    def state_badge(self, lic: License) -> str:
        return badge(lic.get_state_display(), STATE_TONES[lic.state], lic.state_reason)

    @admin.display(description="provision by", ordering="provisioning_due_on")
    def deadline(self, lic: License) -> str:
        if lic.state != LicenseState.APPROVED or not lic.provisioning_due_on:
            return "—"
        day = today()
        if lic.provisioning_due_on < day:
            late = business_days_between(lic.provisioning_due_on, day, lic.partner.country.code)
            # The date, and under it how late: one narrow column, the list's dates whole.
            return format_html(
                "{}<br>{}",
                f"{lic.provisioning_due_on:%Y-%m-%d}",
                badge("overdue", "danger", f"{count_of(late, 'business day')} late"),
            )
        return f"{lic.provisioning_due_on:%Y-%m-%d}"

    @admin.display(description="renewals and extensions")
    def renewals(self, lic: License) -> str:
        changes = lic.history.filter(
            Q(history_change_reason__startswith="renewed")
            | Q(history_change_reason__startswith="extended")
            | Q(history_change_reason__startswith="trial extended")
            | Q(history_change_reason__startswith="active again")
        ).order_by("history_date")
        return (
            format_html_join(
                "",
                "<div>{} · {}</div>",
                ((f"{h.history_date:%Y-%m-%d}", h.history_change_reason) for h in changes),
            )
            or "—"
        )

    @admin.display(description="activation code")
    def activation(self, lic: License) -> str:
        if not lic.activation_code:
            return "—"
        used = lic.activation_code_used_at
        state = f"used {used:%Y-%m-%d}" if used else "not used yet"
        return f"{lic.masked_activation_code} ({state})"

    @admin.display(description="infrastructure")
    def infrastructure_detail(self, lic: License) -> str:
        infra = lic.infrastructure
        if infra is None:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((e.name, e.endpoint_url or "—") for e in infra.environments.all()),
        )
        link = reverse("admin:licensing_infrastructure_change", args=[infra.pk])
        return format_html(
            '<a href="{}">{}</a> · {} · release {}<table>{}</table>',
            link,
            infra.registration_id or "not registered yet",
            infra.get_hosting_display(),
            infra.platform_release or "—",
            rows,
        )
