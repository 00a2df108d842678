from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Partner licensing desk"
admin.site.site_title = "Licensing desk"
admin.site.index_title = "Partners, licenses and policies"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("portal/", include("licensing.urls")),
    path("api/ipp/", include("ipp.urls")),
]
