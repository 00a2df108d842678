from django.apps import AppConfig


class IppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ipp"
    verbose_name = "Intellectual Property Protection"

    def ready(self) -> None:
        # The region key of the rows a channel manager lists follows their owner (regions.py).
        from . import regions

        regions.connect()
