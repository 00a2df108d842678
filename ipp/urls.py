from django.urls import path

from . import views

app_name = "ipp"

urlpatterns = [
    # No trailing slash: the API contract is POST /api/ipp/deployment-check, and a pattern
    # that matches as sent is never redirected by APPEND_SLASH.
    path("deployment-check", views.deployment_check, name="deployment-check"),
]
