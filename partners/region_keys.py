"""The region key that rows of other apps carry for the channel managers' scope.

A channel manager sees the rows of her regions' partners. Rows far from the partner (an
extension of a license, an application of an infrastructure, a permission out of one), and
the partners' opportunities, listed newest first, carry that partner's region themselves, so
her rows are found by an index of her regions (`partners.scoping`) instead of through the
partners and the large tables in between. The apps that own those rows keep the key in step
(`partners.regions`, `licensing.regions`, `ipp.regions`) with the two helpers here: the key
of a row being saved, and the rows to move when an owner moves.
"""

from __future__ import annotations

from django.db import models


def region_key() -> models.ForeignKey:
    """The `region` field of a row that carries its owner's region: derived, so not editable
    and left out of forms; indexed by each model together with what its lists order by."""
    return models.ForeignKey(
        "partners.Region",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        db_index=False,
    )


def owner_region_id(instance: models.Model, owner: str) -> int | None:
    """The region of `instance`'s `owner` (a foreign key to a model with a `region`): from
    the related object already loaded when it is, else one query."""
    owner_id = getattr(instance, f"{owner}_id")
    if owner_id is None:
        return None
    field = instance._meta.get_field(owner)
    if field.is_cached(instance) and getattr(instance, owner).pk == owner_id:
        return getattr(instance, owner).region_id
    rows = field.related_model._default_manager.filter(pk=owner_id)
    return rows.values_list("region_id", flat=True).first()


def keep_region_on_save(owners: dict[type[models.Model], str]):
    """A pre_save receiver setting `region` from the owner named in `owners` on a new row
    or a save of every field (an admin edit may change the owner); a save of some fields
    leaves it, since an owner moved by a service moves its rows itself."""

    def receiver(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
        if raw or (update_fields is not None and not instance._state.adding):
            return
        instance.region_id = owner_region_id(instance, owners[sender])

    return receiver


def move_rows(rows: models.QuerySet, region_id: int | None) -> int:
    """Give `rows` the region `region_id`: one UPDATE of those that differ. The key is left
    out of the rows' history (derived: its cause is in the owner's history)."""
    if region_id is None:
        differ = rows.filter(region_id__isnull=False)
    else:
        # exclude() keeps the rows whose key is NULL as well: they differ too.
        differ = rows.exclude(region_id=region_id)
    return differ.update(region_id=region_id)


def when_partner_moves(follow):
    """A Partner post_save receiver calling `follow(partner)` when its region may have
    changed: an edit of every field or of `region`, never a new partner (it has no rows)."""

    def receiver(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
        if raw or created or (update_fields is not None and "region" not in update_fields):
            return
        follow(instance)

    return receiver
