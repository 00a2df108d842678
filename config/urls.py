from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from licensing import admin_files
from licensing.admin_views import mail_preview

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before admin/: its catch-all "<object_id>/" would answer this path with a redirect.
    path(
        "admin/licensing/license/<int:pk>/preview/<str:kind>/",
        admin.site.admin_view(mail_preview),
        name="license_mail_preview",
    ),
    path(
        "admin/licensing/license/<int:pk>/license-file/",
        admin.site.admin_view(admin_files.download_file),
        name="license_download_file",
    ),
    path(
        "admin/licensing/license/<int:pk>/reissue-code/",
        admin.site.admin_view(admin_files.reissue_code),
        name="license_reissue_code",
    ),
    path(
        "admin/licensing/license/<int:pk>/release-environment/",
        admin.site.admin_view(admin_files.release_environment),
        name="license_release_environment",
    ),
    path("admin/", admin.site.urls),
    path("portal/", include("licensing.urls")),
    # The machine API (ipp.api): /api/ipp/deployment-check, /api/usage, /api/openapi.json.
    path("api/", include("ipp.urls")),
]
