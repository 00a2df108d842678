"""Compliance incidents in the admin: the licensing team resolves one with a note (on its
page, or several from the list), and an incident the nightly usage check opened links to
the usage report that showed it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from rangefilter.filters import DateRangeFilterBuilder

from .admin_tools import (
    NeverDeletedMixin,
    RegionScopedAdmin,
    Transition,
    TransitionForm,
    TransitionsMixin,
    badge,
)
from .incidents import RESOLUTION_NOTE_REQUIRED, may_resolve_incidents, resolve_incident
from .models import ComplianceIncident


class ResolutionForm(TransitionForm):
    """How the incident was resolved: kept on the incident and in its history."""

    note = forms.CharField(
        label="How was it resolved?",
        help_text="Kept with the incident and in its history.",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=4000,
        error_messages={"required": RESOLUTION_NOTE_REQUIRED},
    )


INCIDENT_TRANSITIONS = (
    Transition(
        "resolve",
        "Resolve…",
        run=lambda incident, user, data: resolve_incident(incident, by=user, note=data["note"]),
        offered=lambda incident, user: incident.resolved_on is None and may_resolve_incidents(user),
        may=may_resolve_incidents,
        form=ResolutionForm,
        action="Resolve selected incidents…",
    ),
)


def report_link(incident: ComplianceIncident) -> str:
    if incident.usage_report_id is None:
        return "—"
    url = reverse("admin:licensing_usagereport_change", args=[incident.usage_report_id])
    report = incident.usage_report
    return format_html('<a href="{}">usage report of {}</a>', url, f"{report.reported_on:%Y-%m-%d}")


@admin.register(ComplianceIncident)
class ComplianceIncidentAdmin(NeverDeletedMixin, TransitionsMixin, RegionScopedAdmin):
    show_full_result_count = False
    region_path = "partner__region"
    list_display = ["partner", "kind", "opened_on", "state", "opened_by"]
    list_select_related = ["partner", "usage_report"]
    list_filter = [
        "kind",
        "partner__region",
        ("resolved_on", admin.EmptyFieldListFilter),
        ("opened_on", DateRangeFilterBuilder()),
    ]
    autocomplete_fields = ["partner", "license"]
    search_fields = ["partner__name", "notes"]
    fields = [
        "partner",
        "license",
        "kind",
        "opened_on",
        "notes",
        "opened_by",
        "resolved_on",
        "resolved_by",
        "resolution",
    ]
    # Resolved only through the "Resolve" decision (partners.incidents.resolve_incident).
    readonly_fields = ["opened_by", "resolved_on", "resolved_by", "resolution"]
    transitions = INCIDENT_TRANSITIONS
    transition_noun = "incident"
    transitions_only = False

    def transition_message(self, incident, name):
        return f"{incident}: resolved on {incident.resolved_on:%Y-%m-%d}."

    @admin.display(description="state", ordering="resolved_on")
    def state(self, incident: ComplianceIncident) -> str:
        if incident.resolved_on is None:
            return badge("open", "warn", "Takes the partner out of good standing")
        return badge(
            f"resolved {incident.resolved_on:%Y-%m-%d}", "ok", incident.resolution or "resolved"
        )

    @admin.display(description="opened by")
    def opened_by(self, incident: ComplianceIncident) -> str:
        if not incident.pk:
            return "—"
        if incident.usage_report_id is None:
            return "by hand"
        return report_link(incident)
