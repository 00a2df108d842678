"""Admin pages outside a ModelAdmin: the mail preview of a license.

Routed in config/urls.py (before admin/) and wrapped in `admin.site.admin_view`, so only
logged-in staff reach them; the license comes from the License admin's own queryset, so the
region scope and the architect's assignment apply (404 outside them).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from . import previews
from .models import License


def mail_preview(request, pk: int, kind: str):
    model_admin = admin.site.get_model_admin(License)
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    if kind not in previews.KINDS:
        raise Http404("No such mail.")
    queryset = model_admin.get_queryset(request).select_related(
        "policy", "partner", "opportunity__solution_architect", "infrastructure__platform_release"
    )
    lic = get_object_or_404(queryset, pk=pk)
    context = {
        **admin.site.each_context(request),
        "title": f"{previews.KINDS[kind]} of {lic}",
        "opts": License._meta,
        "original": lic,
        "preview": previews.preview(lic, kind),
        "kinds": previews.KINDS,
    }
    response = TemplateResponse(request, "admin/licensing/license/mail_preview.html", context)
    response["Cache-Control"] = "no-store"
    return response
