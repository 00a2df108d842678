"""A partner's licenses on the partner's page (composed onto the partner admin by
config.admin: partners does not know licenses)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from partners.admin_tools import ReadOnlyMixin

from ..models import License


class LicenseInline(ReadOnlyMixin, admin.TabularInline):
    """The partner's licenses at a glance; each opens on its own page, where it changes."""

    model = License
    extra = 0
    fields = ["license_link", "hosting", "state", "starts_on", "ends_on"]
    readonly_fields = fields
    ordering = ["-id"]

    def get_queryset(self, request):
        # The rows the user's own license list shows (the region scope, an architect's
        # assignment): a partner's page is no way round the license pages' "doesn't exist".
        licenses = self.admin_site.get_model_admin(License).get_queryset(request)
        return licenses.select_related("policy").order_by(*self.ordering)

    @admin.display(description="license")
    def license_link(self, lic: License) -> str:
        url = reverse("admin:licensing_license_change", args=[lic.pk])
        return format_html('<a href="{}">{}</a>', url, lic)
