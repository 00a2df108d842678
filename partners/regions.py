"""Contacts, terms, opportunities and compliance incidents carry their partner's region (see
`partners.region_keys`): set when one is saved, moved when its partner changes region,
filled in bulk after bulk inserts (the scale seed) and by the migrations that added it."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.db.models.signals import post_save, pre_save

from .models import ComplianceIncident, Contact, Opportunity, Partner, PartnershipTerm
from .region_keys import keep_region_on_save, move_rows, when_partner_moves

OWNERS = {
    Contact: "partner",
    PartnershipTerm: "partner",
    Opportunity: "partner",
    ComplianceIncident: "partner",
}


def follow_partner(partner: Partner) -> None:
    """The partner's rows move with it to its region (an edit of the region)."""
    for model in OWNERS:
        move_rows(model.objects.filter(partner_id=partner.pk), partner.region_id)


def fill_regions() -> None:
    """Rows inserted in bulk (no signal) get their region: one UPDATE per model."""
    partner_region = Partner.objects.filter(pk=OuterRef("partner_id")).values("region_id")
    for model in OWNERS:
        model.objects.filter(region__isnull=True).update(region_id=Subquery(partner_region))


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
        dispatch_uid="region-key-partner-partners",
    )
