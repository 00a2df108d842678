"""Applications, and the IPP overview of one infrastructure (its applications,
permissions in and out, token and recent checks) with its "may it deploy here?" check."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path

from licensing.models import Infrastructure, License
from partners.admin_tools import RegionScopedAdmin
from partners.scoping import is_licensing_team

from .. import services
from ..forms import CheckForm
from ..models import Application, DeploymentCheck, DeploymentPermission, InfrastructureToken
from ..selectors import visible_infrastructures
from .common import infrastructure_link, overview_url, with_tones

RECENT_CHECKS = 20


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

    def _may_check(self, request) -> bool:
        """The check is logged (a DeploymentCheck row): for those who may change IPP records
        (the licensing team; a channel manager, who records consent), not a read-only role."""
        permissions = self.admin_site.get_model_admin(DeploymentPermission)
        return self.has_change_permission(request) or permissions.has_change_permission(request)

    def _visible(self, request, model):
        """The rows of `model` the user's own list of them shows: what this page may name."""
        return self.admin_site.get_model_admin(model).get_queryset(request)

    def overview_view(self, request, pk: int):
        """An infrastructure's applications, permissions out and in, its API token and the
        recent deployment checks about it, in a constant number of queries. Each list holds
        only the rows the user's own list of them shows: a permission in from another
        region's developer is not named here either."""
        infrastructure = self._overview_infrastructure(request, pk)
        user = request.user
        permissions = (
            self._visible(request, DeploymentPermission)
            .select_related("source__owner_partner", "target__owner_partner", "consent_by")
            .prefetch_related("applications")
            .order_by("-id")
        )
        show_checks = user.has_perm("ipp.view_deploymentcheck")
        context = {
            **self.admin_site.each_context(request),
            "title": f"IPP overview: {infrastructure}",
            "opts": self.model._meta,
            "infrastructure": infrastructure,
            "applications": self.get_queryset(request).filter(developed_in=infrastructure),
            "permissions_out": with_tones(permissions.filter(source=infrastructure)),
            "permissions_in": with_tones(permissions.filter(target=infrastructure)),
            "licenses": self._visible(request, License)
            .filter(infrastructure=infrastructure)
            .select_related("policy")
            .order_by("-id"),
            "show_checks": show_checks,
            "checks": (
                self._visible(request, DeploymentCheck)
                .filter(target=infrastructure)
                .select_related("application")[:RECENT_CHECKS]
                if show_checks
                else []
            ),
            "token": InfrastructureToken.objects.active()
            .filter(infrastructure=infrastructure)
            .select_related("created_by")
            .first(),
            "can_issue_token": is_licensing_team(user) and bool(infrastructure.registration_id),
            "can_check": self._may_check(request),
            "check_form": CheckForm(),
        }
        return TemplateResponse(request, "admin/ipp/infrastructure_overview.html", context)

    def check_view(self, request, pk: int):
        """Ask the decision for one application on this infrastructure; logged like an API
        call, with the admin user as the caller."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._may_check(request):
            raise PermissionDenied  # before the lookup: the same answer for any id
        infrastructure = self._overview_infrastructure(request, pk)
        form = CheckForm(request.POST)
        application = None
        if form.is_valid():
            # Among the applications the user sees: another region's key gets the answer of
            # a key that does not exist, never its name.
            application = (
                self.get_queryset(request)
                .select_related("developed_in")
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
