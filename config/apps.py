from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project itself, installed last: what spans the apps (the admin dashboard across
    them, the seed commands) lives here, so that partners → licensing → ipp never point
    back."""

    name = "config"
    verbose_name = "Partner licensing desk"
