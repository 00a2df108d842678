from django.apps import AppConfig, apps
from django.db.models.signals import m2m_changed, post_delete, post_save


class ProjectConfig(AppConfig):
    """The project itself, installed last: what spans the apps (the admin dashboard across
    them, the seed commands) lives here, so that partners → licensing → ipp never point
    back."""

    name = "config"
    verbose_name = "Partner licensing desk"

    def ready(self) -> None:
        from partners import dashboard_cache

        # Every committed change to what the dashboard counts makes it count again.
        receiver = dashboard_cache.data_changed_on_commit
        for label in dashboard_cache.COUNTED_MODELS:
            model = apps.get_model(label)
            post_save.connect(receiver, sender=model, dispatch_uid=f"dashboard-save-{label}")
            post_delete.connect(receiver, sender=model, dispatch_uid=f"dashboard-del-{label}")
            for field in model._meta.local_many_to_many:
                m2m_changed.connect(
                    receiver,
                    sender=field.remote_field.through,
                    dispatch_uid=f"dashboard-m2m-{label}-{field.name}",
                )
