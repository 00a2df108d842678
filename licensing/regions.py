"""Licenses, extensions, infrastructures and mails carry their partner's region (see
`partners.region_keys`): set when a row is saved, moved when its partner changes region,
filled in bulk after bulk inserts (the scale seed) and by the migration that added it."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.db.models.signals import post_save, pre_save

from partners.models import Partner
from partners.region_keys import keep_region_on_save, move_rows, when_partner_moves

from .models import Extension, Infrastructure, License, Notification

OWNERS = {
    License: "partner",
    Extension: "license",
    Infrastructure: "owner_partner",
    Notification: "partner",
}


def follow_partner(partner: Partner) -> None:
    """The partner's rows move with it to its region (an edit of the partner's region)."""
    region_id = partner.region_id
    move_rows(License.objects.filter(partner_id=partner.pk), region_id)
    move_rows(Extension.objects.filter(license__partner_id=partner.pk), region_id)
    move_rows(Infrastructure.objects.filter(owner_partner_id=partner.pk), region_id)
    move_rows(Notification.objects.filter(partner_id=partner.pk), region_id)


def fill_regions() -> None:
    """Rows inserted in bulk (no signal) get their region: four UPDATEs."""
    partner_region = Partner.objects.filter(pk=OuterRef("partner_id")).values("region_id")
    License.objects.filter(region__isnull=True).update(region_id=Subquery(partner_region))
    license_region = License.objects.filter(pk=OuterRef("license_id")).values("region_id")
    Extension.objects.filter(region__isnull=True).update(region_id=Subquery(license_region))
    owner_region = Partner.objects.filter(pk=OuterRef("owner_partner_id")).values("region_id")
    Infrastructure.objects.filter(region__isnull=True, owner_partner__isnull=False).update(
        region_id=Subquery(owner_region)
    )
    Notification.objects.filter(region__isnull=True, partner__isnull=False).update(
        region_id=Subquery(partner_region)
    )


def connect() -> None:
    keep = keep_region_on_save(OWNERS)
    for model in OWNERS:
        # weak=False: the receiver is made here, nothing else holds it.
        pre_save.connect(
            keep, sender=model, weak=False, dispatch_uid=f"region-key-{model.__name__}"
        )
    post_save.connect(
        when_partner_moves(follow_partner),
        sender=Partner,
        weak=False,
        dispatch_uid="region-key-partner-licensing",
    )
