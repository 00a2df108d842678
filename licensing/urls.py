from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.register, name="register"),
    path("registered/", views.registered, name="registered"),
    path("license-file/", views.download, name="download"),
    path("returning/", views.returning, name="returning"),
    path("infrastructure/", views.infrastructure, name="infrastructure"),
    path("infrastructure/environments/", views.register_server, name="register_server"),
]
