"""The license's year on its admin page: environment slots and the license file log."""

from __future__ import annotations

from django import template
from django.urls import reverse

from partners.scoping import is_licensing_team

from ..choices import LicenseState

register = template.Library()

# The newest handouts only: the page stays short whatever a license's age.
ISSUES_SHOWN = 20


@register.inclusion_tag("admin/licensing/license/files_panel.html")
def license_year(lic, user) -> dict:
    infra = lic.infrastructure
    slots = [name for name in lic.environment_names.split(",") if name]
    environments = {e.name: e for e in infra.environments.all()} if infra else {}
    active = lic.state == LicenseState.ACTIVE
    return {
        "license": lic,
        "team": is_licensing_team(user),
        "slots": [
            {"name": name, "environment": environments[name]}
            for name in slots
            if name in environments
        ],
        "history_url": (
            reverse("admin:licensing_infrastructure_history", args=[infra.pk]) if infra else ""
        ),
        "issues": lic.file_issues.select_related("by").order_by("-issued_at", "-id")[:ISSUES_SHOWN],
        "can_download": active and bool(infra and infra.registration_id),
        "can_reissue": active,
    }
