from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rangefilter.filters import DateRangeFilterBuilder, DateTimeRangeFilterBuilder

from partners.admin_tools import (
    AuditedAdmin,
    ReadOnlyMixin,
    RegionScopedAdmin,
    ScopedChoicesMixin,
    TransitionsMixin,
    ask_reason,
    badge,
)
from partners.scoping import is_licensing_team
from partners.services import today

from . import services
from .calendar import business_days_between
from .choices import LIVE_STATES, Hosting, LicenseKind, LicenseState
from .models import (
    Environment,
    Extension,
    Infrastructure,
    License,
    LicensePolicy,
    NightlyRun,
    Notification,
    PlatformRelease,
    RegistrationAttempt,
    extension_queue_order,
    license_queue_order,
)


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
            behind = Infrastructure.objects.behind(obj).count()
            self.message_user(
                request,
                f"{obj.version} is the latest stable release: {behind} infrastructure(s) of live "
                "Demo and Internal licenses now need an upgrade (Infrastructures, filter "
                "'behind the latest stable release').",
                messages.WARNING if behind else messages.INFO,
            )

    @admin.display(description="stability", ordering="is_stable")
    def stability(self, release: PlatformRelease) -> str:
        if release.pk == release.latest_pk:
            return badge("latest stable", "ok")
        return badge("stable", "info") if release.is_stable else badge("preview", "warn")


# --- Licenses ----------------------------------------------------------------------------

STATE_TONES = {
    LicenseState.REQUESTED: "info",
    LicenseState.APPROVED: "warn",
    LicenseState.ACTIVE: "ok",
    LicenseState.EXPIRED: "danger",
    LicenseState.REFUSED: "muted",
    LicenseState.CANCELLED: "muted",
    LicenseState.CONVERTED: "ok",
}


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    needs_reason: bool = False


APPROVE = Transition("approve", "Approve")
REFUSE = Transition("refuse", "Refuse", needs_reason=True)
PROVISION = Transition("provision", "Provision")
CANCEL = Transition("cancel", "Cancel", needs_reason=True)
CONVERT = Transition("convert", "Validate conversion")
TRANSITIONS = {t.name: t for t in (APPROVE, REFUSE, PROVISION, CANCEL, CONVERT)}


def available_transitions(lic: License, user) -> list[Transition]:
    """The buttons this user may press on this license; the services check again."""
    found = []
    if is_licensing_team(user):
        if lic.state == LicenseState.REQUESTED:
            found += [APPROVE, REFUSE]
        if lic.state == LicenseState.APPROVED:
            found.append(PROVISION)
        if lic.state in LIVE_STATES:
            found.append(CANCEL)
    if (
        lic.state == LicenseState.ACTIVE
        and lic.opportunity_id
        and lic.opportunity.solution_architect_id == user.pk
    ):
        found.append(CONVERT)
    return found


def run_transition(name: str, lic: License, user, data) -> License:
    reason = data.get("reason", "")
    if name == "approve":
        return services.approve(lic, by=user)
    if name == "refuse":
        return services.refuse(lic, by=user, reason=reason)
    if name == "provision":
        return services.provision(lic, by=user)
    if name == "cancel":
        return services.cancel(lic, by=user, reason=reason)
    if name == "convert":
        return services.convert(lic, by=user)
    raise ValidationError(f"Unknown action {name}.")


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


class LicenseRequestForm(forms.ModelForm):
    """Asking for a license: the service's own checks put their errors on this form."""

    kind = forms.ChoiceField(choices=LicenseKind.choices)
    hosting = forms.ChoiceField(
        choices=[("", "Policy default"), *Hosting.choices],
        required=False,
        help_text="Demo: shared cloud, or the one on-premises DL. Internal: on-premises. "
        "Trial: dedicated cloud or on-premises.",
    )

    class Meta:
        model = License
        fields = ["partner", "kind", "hosting", "opportunity"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            services.validate_request(
                partner=data["partner"],
                kind=data["kind"],
                by=self.user,
                hosting=data.get("hosting") or None,
                opportunity=data.get("opportunity"),
            )
        except ValidationError as error:
            raise ValidationError(error.messages) from None
        return data


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
class LicenseAdmin(TransitionsMixin, RegionScopedAdmin):
    region_path = "partner__region"
    architect_path = "opportunity__solution_architect"
    list_display = [
        "__str__",
        "kind",
        "partner",
        "region",
        "hosting",
        "state_badge",
        "deadline",
        "starts_on",
        "ends_on",
        "requested_on",
    ]
    list_display_links = ["__str__"]
    list_select_related = ["policy", "partner__region", "opportunity"]
    list_filter = [
        OverdueFilter,
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
    actions = ["approve_selected", "provision_selected", "refuse_selected", "cancel_selected"]
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
                    "environment_names",
                    "limits",
                    "activation",
                    "infrastructure_detail",
                    "renewals",
                ]
            },
        ),
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

    transition_names = frozenset(TRANSITIONS)

    def transitions_for(self, lic, user):
        return available_transitions(lic, user)

    def run_transition(self, name, lic, user, data):
        return run_transition(name, lic, user, data)

    def transition_done(self, request, lic, name):
        if name == "provision":
            return self.show_activation_codes(request, [lic])
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

    def _bulk(self, request, queryset, name, reason=""):
        done = self.run_on_each(request, queryset, name, {"reason": reason})
        if done and name != "provision":
            self.message_user(request, f"{len(done)} license(s): {name} done.", messages.SUCCESS)
        return done

    def _with_reason(self, request, queryset, name, action):
        return ask_reason(
            self,
            request,
            queryset,
            action=action,
            title=f"{TRANSITIONS[name].label} {queryset.count()} license(s)",
            apply=lambda reason: self._bulk(request, queryset, name, reason),
        )

    @admin.action(description="Approve selected requests")
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, "approve")

    @admin.action(description="Provision selected approved licenses")
    def provision_selected(self, request, queryset):
        done = self._bulk(request, queryset, "provision")
        if done:
            return self.show_activation_codes(request, done)
        return None

    @admin.action(description="Refuse selected requests…")
    def refuse_selected(self, request, queryset):
        return self._with_reason(request, queryset, "refuse", "refuse_selected")

    @admin.action(description="Cancel selected licenses…")
    def cancel_selected(self, request, queryset):
        return self._with_reason(request, queryset, "cancel", "cancel_selected")

    @admin.display(description="region", ordering="partner__region__name")
    def region(self, lic: License) -> str:
        return str(lic.partner.region)

    @admin.display(description="kind", ordering="policy__kind")
    def kind(self, lic: License) -> str:
        return lic.policy.kind

    @admin.display(description="state", ordering="state")
    def state_badge(self, lic: License) -> str:
        return badge(lic.get_state_display(), STATE_TONES[lic.state], lic.state_reason)

    @admin.display(description="provisioning deadline", ordering="provisioning_due_on")
    def deadline(self, lic: License) -> str:
        if lic.state != LicenseState.APPROVED or not lic.provisioning_due_on:
            return "—"
        day = today()
        if lic.provisioning_due_on < day:
            late = business_days_between(lic.provisioning_due_on, day, lic.partner.country.code)
            return badge(
                f"{lic.provisioning_due_on:%Y-%m-%d} · overdue",
                "danger",
                f"{late} business day(s) late",
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


class EnvironmentInline(ScopedChoicesMixin, admin.TabularInline):
    model = Environment
    extra = 0
    fields = ["name", "endpoint_url"]


class UpgradeFilter(admin.SimpleListFilter):
    title = "platform release"
    parameter_name = "upgrade"

    def lookups(self, request, model_admin):
        return [("needed", "Behind the latest stable release"), ("current", "Up to date")]

    def queryset(self, request, queryset):
        latest = PlatformRelease.latest_stable()
        if latest is None or self.value() not in ("needed", "current"):
            return queryset
        behind = queryset.filter(platform_release__released_on__lt=latest.released_on)
        return behind if self.value() == "needed" else queryset.exclude(pk__in=behind.values("pk"))


@admin.register(Infrastructure)
class InfrastructureAdmin(RegionScopedAdmin):
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

    @admin.action(description="Record the upgrade to the latest stable release")
    def record_upgrade(self, request, queryset):
        for infra in queryset.select_related("platform_release"):
            try:
                services.record_upgrade(infra, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{infra}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{infra}: upgraded to {infra.platform_release}.")


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


# --- Extensions, nightly runs, upgrades --------------------------------------------------


class ExtensionRequestForm(forms.ModelForm):
    """Asking for an extension: the service's checks put their errors on this form."""

    class Meta:
        model = Extension
        fields = ["license", "reason", "opportunity", "requested_until", "evaluation"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        # Validated by running the service in a savepoint that is always rolled back:
        # the one place the rules live, with no second copy here.
        try:
            with transaction.atomic():
                services.request_extension(
                    data["license"],
                    by=self.user,
                    reason=data["reason"],
                    requested_until=data["requested_until"],
                    evaluation=data.get("evaluation", ""),
                    opportunity=data.get("opportunity"),
                )
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, messages_ in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, messages_)
            else:
                raise ValidationError(error.messages) from None
        return data


class _DryRun(Exception):
    pass


@admin.register(Extension)
class ExtensionAdmin(RegionScopedAdmin):
    region_path = "license__partner__region"
    architect_path = "license__opportunity__solution_architect"
    list_display = [
        "license",
        "partner",
        "reason",
        "requested_until",
        "state_badge",
        "requested_by",
        "requested_on",
        "decided_by",
    ]
    list_select_related = ["license__policy", "license__partner", "requested_by", "decided_by"]
    list_filter = [
        "state",
        "reason",
        "license__policy__kind",
        "license__partner__region",
        ("requested_until", DateRangeFilterBuilder()),
    ]
    search_fields = ["license__licensee_name", "license__partner__name"]
    autocomplete_fields = ["license", "opportunity"]
    actions = ["grant_selected", "refuse_selected"]
    show_full_result_count = False

    def get_ordering(self, request):
        return extension_queue_order()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ExtensionRequestForm
            form = super().get_form(request, obj, change=change, **kwargs)
            form.user = request.user
            return form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in Extension._meta.fields if f.name != "id"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        created = services.request_extension(
            data["license"],
            by=request.user,
            reason=data["reason"],
            requested_until=data["requested_until"],
            evaluation=data.get("evaluation", ""),
            opportunity=data.get("opportunity"),
        )
        obj.pk, obj.state = created.pk, created.state
        obj._state.adding = False

    def _decide(self, request, queryset, decide):
        for ext in queryset:
            try:
                decide(ext)
            except ValidationError as error:
                self.message_user(request, f"{ext}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{ext}: {ext.get_state_display().lower()}.")

    @admin.action(description="Grant selected extensions")
    def grant_selected(self, request, queryset):
        self._decide(request, queryset, lambda ext: services.grant_extension(ext, by=request.user))

    @admin.action(description="Refuse selected extensions…")
    def refuse_selected(self, request, queryset):
        return ask_reason(
            self,
            request,
            queryset,
            action="refuse_selected",
            title=f"Refuse {queryset.count()} extension(s)",
            apply=lambda reason: self._decide(
                request,
                queryset,
                lambda ext: services.refuse_extension(ext, by=request.user, reason=reason),
            ),
        )

    @admin.display(description="partner", ordering="license__partner__name")
    def partner(self, ext: Extension) -> str:
        return str(ext.license.partner)

    @admin.display(description="state", ordering="state")
    def state_badge(self, ext: Extension) -> str:
        tone = {"requested": "info", "granted": "ok", "refused": "muted"}[ext.state]
        return badge(ext.get_state_display(), tone, ext.refusal_reason)


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
