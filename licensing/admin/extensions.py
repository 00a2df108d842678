"""Extension requests: asked through the service's own checks, decided by the licensing
team from the transitions table (buttons on the page, list actions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from rangefilter.filters import DateRangeFilterBuilder

from partners.admin_tools import (
    ReasonForm,
    RegionScopedAdmin,
    Transition,
    TransitionsMixin,
    badge,
    said,
)
from partners.models import Opportunity
from partners.scoping import is_licensing_team

from .. import services
from ..choices import ExtensionReason, ExtensionState
from ..models import Extension, extension_queue_order
from . import next_steps
from .search import LicenseSearchMixin


def waiting_for_the_team(ext: Extension, user) -> bool:
    return ext.state == ExtensionState.REQUESTED and is_licensing_team(user)


TRANSITIONS = (
    Transition(
        "grant",
        "Grant",
        run=lambda ext, user, data: services.grant_extension(ext, by=user),
        offered=waiting_for_the_team,
        may=is_licensing_team,
        action="Grant selected extensions",
        past="granted",
        next_step=next_steps.after_extension,
    ),
    Transition(
        "refuse",
        "Refuse",
        run=lambda ext, user, data: services.refuse_extension(ext, by=user, reason=data["reason"]),
        offered=waiting_for_the_team,
        may=is_licensing_team,
        form=ReasonForm.saying(
            services.REASON_REQUIRED,
            label="Why is this extension refused?",
            help_text="The requester reads it in the refusal mail; kept in the history.",
        ),
        danger=True,
        action="Refuse selected extensions…",
        past="refused",
        next_step=next_steps.after_extension,
    ),
)


class ExtensionRequestForm(forms.ModelForm):
    """Asking for an extension: the service's checks put their errors on this form."""

    class Meta:
        model = Extension
        fields = ["license", "reason", "opportunity", "requested_until", "evaluation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lic = self._license()
        user = getattr(self, "user", None)
        if lic is not None:
            kinds: tuple[str, ...] = (lic.policy.kind,)
        else:
            kinds = services.kinds_requested_by(user) if user is not None else ()
        if kinds and "reason" in self.fields:
            allowed = {r for kind in kinds for r in services.EXTENSION_REASONS[kind]}
            self.fields["reason"].choices = [
                ("", "---------"),
                *(c for c in ExtensionReason.choices if c[0] in allowed),
            ]
            if len(allowed) == 1:
                self.fields["reason"].initial = next(iter(allowed))
        if lic is not None and "opportunity" in self.fields:
            # That partner's open sales cycles only: a won or lost deal is no reason.
            self.fields["opportunity"] = forms.ModelChoiceField(
                queryset=Opportunity.objects.filter(
                    partner=lic.partner_id, status__in=services.OPEN_OPPORTUNITY_STATUSES
                ),
                required=False,
                help_text=f"An open opportunity of {lic.partner} (for an open sales cycle).",
            )

    def _license(self):
        """The license asked about (the page's ?license=, or the one posted), if in scope."""
        field = self.fields.get("license")
        wanted = self.data.get("license") or self.initial.get("license")
        if field is None or not str(wanted or "").isdigit():
            return None
        return field.queryset.select_related("policy", "partner").filter(pk=wanted).first()

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
class ExtensionAdmin(LicenseSearchMixin, TransitionsMixin, RegionScopedAdmin):
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
    search_fields = [
        "license__licensee_name",
        "license__partner__name",
        "license__infrastructure__registration_id",
    ]
    license_path = "license"
    autocomplete_fields = ["license", "opportunity"]
    transitions = TRANSITIONS
    transition_noun = "extension"
    show_full_result_count = False

    def get_ordering(self, request):
        return extension_queue_order()

    def added_message(self, ext):
        state = "request added successfully" if ext.state == ExtensionState.REQUESTED else "granted"
        return said(ext, state, next_steps.after_extension(ext))

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

    @admin.display(description="partner", ordering="license__partner__name")
    def partner(self, ext: Extension) -> str:
        return str(ext.license.partner)

    @admin.display(description="state", ordering="state")
    def state_badge(self, ext: Extension) -> str:
        tone = {"requested": "info", "granted": "ok", "refused": "muted"}[ext.state]
        return badge(ext.get_state_display(), tone, ext.refusal_reason)
