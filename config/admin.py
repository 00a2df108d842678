"""The admin site as the project composes it: what one app shows on another app's pages.

partners does not import licensing, so the partner page's list of licenses is added here,
by the project, which knows both.
"""

from django.contrib import admin

from licensing.admin import LicenseInline
from partners import admin as partners_admin
from partners.models import Partner

admin.site.site_header = "Partner licensing desk"
admin.site.site_title = "Licensing desk"
admin.site.index_title = "Partners, licenses and policies"
# One sign for "nothing here" on every page: the desk's own cells already use the dash.
admin.site.empty_value_display = "—"


class PartnerAdmin(partners_admin.PartnerAdmin):
    inlines = [*partners_admin.PartnerAdmin.inlines, LicenseInline]


admin.site.unregister(Partner)
admin.site.register(Partner, PartnerAdmin)
