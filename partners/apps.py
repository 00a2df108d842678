from django.apps import AppConfig
from django.db.models import Field, ForeignObject
from django.db.models.signals import post_delete, post_migrate, post_save

from .bulk_sql import AnyOf, RelatedAnyOf


class PartnersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        # `field__any=values`: thousands of ids in one parameter (see bulk_sql.AnyOf).
        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(RelatedAnyOf)
        # The data migrations create the role Groups; this keeps them equal to
        # partners/roles.py after every migrate (and flush), so a change of roles.py needs
        # no new migration. It runs after the last app's permissions exist.
        post_migrate.connect(_sync_roles, sender=self.apps.get_app_config("ipp"))
        # The standing kept on the partner follows every save and delete of what standing()
        # reads, whoever writes it (admin forms and inlines, services, imports, seeds), in
        # the transaction of the write. Bulk writes send no signal: they call
        # services.refresh_standing themselves.
        for name in ("PartnershipTerm", "ComplianceIncident"):
            model = self.get_model(name)
            post_save.connect(_refresh_owner, sender=model, dispatch_uid=f"standing-save-{name}")
            post_delete.connect(_refresh_owner, sender=model, dispatch_uid=f"standing-del-{name}")
        post_save.connect(
            _refresh_partner, sender=self.get_model("Partner"), dispatch_uid="standing-partner"
        )
        # The region key of the opportunities a channel manager lists follows their partner.
        from . import regions

        regions.connect()


def _sync_roles(sender, apps, using="default", **kwargs) -> None:
    from .roles import sync_groups

    sync_groups(apps)


# What standing() reads on the partner row itself: a save of other fields leaves it as it is.
_STANDING_INPUTS = {"sales_authorized_on", "delivery_authorized_on"}


def _refresh_owner(sender, instance, raw=False, **kwargs) -> None:
    if raw:  # loading fixtures: the rows they need may not be there yet
        return
    from .services import refresh_standing

    refresh_standing([instance.partner_id])


def _refresh_partner(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or (update_fields is not None and not _STANDING_INPUTS & set(update_fields)):
        return
    from .services import refresh_standing

    refresh_standing([instance.pk])
    # The instance the caller holds says what the row now says.
    instance.refresh_from_db(fields=["standing_good", "standing_failing", "standing_on"])
