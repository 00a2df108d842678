"""The license's year on its admin page, for the licensing team: download the current
license file (logged), release an environment slot with a reason, reissue the activation
code with a reason (the new code shown once, on the answer page only).

Routed in config/urls.py (before admin/), wrapped in `admin.site.admin_view`, like the mail
preview: the license comes from the License admin's own queryset (its scope applies), and
any role but the licensing team gets 403 for any id. The services check the role again.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from partners.admin_tools import ReasonForm
from partners.scoping import is_licensing_team

from . import services
from .choices import FileVia
from .models import Environment, License

Reason = ReasonForm.saying(services.REASON_REQUIRED)


def _license(request, pk: int) -> License:
    if not is_licensing_team(request.user):
        raise PermissionDenied
    model_admin = admin.site.get_model_admin(License)
    queryset = model_admin.get_queryset(request).select_related(
        "policy", "partner", "infrastructure__platform_release"
    )
    return get_object_or_404(queryset, pk=pk)


def _license_page(lic: License) -> str:
    return reverse("admin:licensing_license_change", args=[lic.pk])


@require_POST
def download_file(request, pk: int):
    """The current license file, logged as handed out in the admin by this user."""
    lic = _license(request, pk)
    try:
        data = services.issue_license_file(lic, via=FileVia.ADMIN, by=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return HttpResponseRedirect(_license_page(lic))
    response = HttpResponse(data, content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="license-{lic.policy.kind}-{lic.pk}-{lic.file_serial}.json"'
    )
    response["Cache-Control"] = "no-store"
    return response


def _reason_page(request, lic, *, title, form, action, danger_note):
    context = {
        **admin.site.each_context(request),
        "title": title,
        "opts": License._meta,
        "original": lic,
        "form": form,
        "action": action,
        "note": danger_note,
    }
    return TemplateResponse(request, "admin/licensing/license/reason.html", context)


@require_http_methods(["GET", "POST"])
def release_environment(request, pk: int):
    """Free an environment slot (`?environment=<name>`), with a reason kept in the
    environment's history."""
    lic = _license(request, pk)
    environment = get_object_or_404(
        Environment.objects.select_related("infrastructure"),
        name=request.GET.get("environment", ""),
        infrastructure_id=lic.infrastructure_id,
    )
    form = Reason(request.POST if request.method == "POST" else None, obj=environment)
    if request.method == "POST" and form.is_valid():
        try:
            services.release_environment(
                environment, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, f"{environment.name}: the server is released.")
            return HttpResponseRedirect(_license_page(lic))
    return _reason_page(
        request,
        lic,
        title=f"Release the {environment.name} environment of {lic}",
        form=form,
        action=request.get_full_path(),
        danger_note=(
            f"Server {environment.serial_number or '—'} stops being licensed: the partner "
            "registers another one in this slot on the portal and installs the new file."
        ),
    )


@sensitive_variables("code")
@require_http_methods(["GET", "POST"])
def reissue_code(request, pk: int):
    """A new activation code: shown once on the answer page, mailed to the technical
    contact; the old one stops working everywhere at once."""
    lic = _license(request, pk)
    form = Reason(request.POST if request.method == "POST" else None, obj=lic)
    if request.method == "POST" and form.is_valid():
        try:
            code = services.reissue_activation_code(
                lic, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            context = {
                **admin.site.each_context(request),
                "title": f"New activation code of {lic}",
                "opts": License._meta,
                "original": lic,
                "code": code,
            }
            response = TemplateResponse(
                request, "admin/licensing/license/code_reissued.html", context
            )
            response["Cache-Control"] = "no-store"
            return response
    return _reason_page(
        request,
        lic,
        title=f"Reissue the activation code of {lic}",
        form=form,
        action=request.path,
        danger_note=(
            "The current code stops working at once, on every portal page; the new code is "
            "shown once on the next page and mailed to the partner's technical contact."
        ),
    )
