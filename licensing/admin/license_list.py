"""The license list's compact cells: it fits a laptop's 1,366 px with its dates whole, and
keeps the state in sight on a phone (the narrow-screen rules are in base_site.html)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from ..models import License


class LicenseListMixin:
    @admin.display(description="license", ordering="id")
    def license_cell(self, lic: License) -> str:
        # The number never wraps; the licensee follows it, the hosting under both.
        return format_html(
            '<span class="license-number">{}-{}</span> {}'
            '<div class="quiet"><small>{}</small></div>',
            lic.policy.kind,
            lic.pk,
            lic.licensee_name,
            lic.get_hosting_display(),
        )

    @admin.display(description="partner", ordering="partner__name")
    def partner_cell(self, lic: License) -> str:
        return format_html(
            '{}<div class="quiet"><small>{}</small></div>', lic.partner.name, lic.partner.region
        )
