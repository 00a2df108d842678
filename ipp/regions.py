"""Applications and deployment permissions carry their infrastructure's region (see
`partners.region_keys`): set when a row is saved, moved when their infrastructure's owner
or that partner's region changes, filled in bulk after bulk inserts and by the migration."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.db.models.signals import post_save, pre_save

from licensing.models import Infrastructure
from partners.models import Partner
from partners.region_keys import keep_region_on_save, move_rows, when_partner_moves

from .models import Application, DeploymentPermission

OWNERS = {Application: "developed_in", DeploymentPermission: "source"}


def follow_infrastructures(infrastructures, region_id: int | None) -> None:
    move_rows(Application.objects.filter(developed_in__in=infrastructures), region_id)
    move_rows(DeploymentPermission.objects.filter(source__in=infrastructures), region_id)


def _infrastructure_saved(sender, instance, created=False, raw=False, update_fields=None, **kw):
    # A full save (an admin edit) may have changed the owner; a new one has no rows yet.
    if raw or created or update_fields is not None:
        return
    follow_infrastructures([instance.pk], instance.region_id)


def follow_partner(partner) -> None:
    """The rows out of the partner's infrastructures move with it to its region."""
    owned = Infrastructure.objects.filter(owner_partner_id=partner.pk).values("pk")
    follow_infrastructures(owned, partner.region_id)


def fill_regions() -> None:
    """Rows inserted in bulk (no signal) get their region: two UPDATEs."""
    region_of = Infrastructure.objects.values("region_id")
    Application.objects.filter(region__isnull=True).update(
        region_id=Subquery(region_of.filter(pk=OuterRef("developed_in_id")))
    )
    DeploymentPermission.objects.filter(region__isnull=True).update(
        region_id=Subquery(region_of.filter(pk=OuterRef("source_id")))
    )


def connect() -> None:
    keep = keep_region_on_save(OWNERS)
    for model in OWNERS:
        # weak=False: the receiver is made here, nothing else holds it.
        pre_save.connect(
            keep, sender=model, weak=False, dispatch_uid=f"region-key-{model.__name__}"
        )
    post_save.connect(
        _infrastructure_saved, sender=Infrastructure, dispatch_uid="region-key-infrastructure"
    )
    post_save.connect(
        when_partner_moves(follow_partner),
        sender=Partner,
        weak=False,
        dispatch_uid="region-key-partner-ipp",
    )
