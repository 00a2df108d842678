from django.apps import AppConfig


class LicensingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "licensing"
    verbose_name = "Licensing"

    def ready(self) -> None:
        # The region key of the rows a channel manager lists follows their owner (regions.py).
        from . import regions

        regions.connect()
