from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PartnersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        # The data migrations create the role Groups; this keeps them equal to
        # partners/roles.py after every migrate (and flush), so a change of roles.py needs
        # no new migration. It runs after the last app's permissions exist.
        post_migrate.connect(_sync_roles, sender=self.apps.get_app_config("ipp"))


def _sync_roles(sender, apps, using="default", **kwargs) -> None:
    from .roles import sync_groups

    sync_groups(apps)
