"""What the IPP admin pages share: links to an infrastructure's IPP overview, state tones."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html

from licensing.models import Infrastructure

from ..choices import PermissionState
from ..models import DeploymentPermission

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
