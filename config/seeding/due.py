"""The due set of the nightly benchmark: exactly N active licenses due on a day, all of
which the nightly run for that day expires."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, OutputWrapper
from django.db.models import F, Q
from django.db.models.functions import Mod
from simple_history.utils import bulk_update_with_history

from licensing.choices import LicenseKind, LicenseState
from licensing.models import License
from partners.models import Partner

from .context import BATCH, REASON

NOT_ENOUGH_DUE = (
    "Only {found:,} active licenses can be made due on {day} so that they expire there "
    "(trials, and Demo/Internal licenses of partners not in good standing on {day}); "
    "{wanted:,} were asked for: seed more licenses or ask for fewer."
)


def make_due(day: date, count: int, *, out: OutputWrapper) -> None:
    """Exactly `count` active licenses due on `day` (ends_on < day), all ending on
    day - 1, all of which the nightly run for `day` expires; every other active license
    ending before `day` moves a year (or more) later. Run again, it changes nothing."""
    before = day - timedelta(days=1)
    due_now = pick_due(day, count)
    keep = {lic.pk for lic in due_now}
    changed = []
    for lic in due_now:
        if lic.ends_on != before:
            lic.ends_on = before
            lic._change_reason = f"{REASON}: due on {day}"
            changed.append(lic)
    active = License.objects.filter(state=LicenseState.ACTIVE)
    moved = list(active.filter(ends_on__lt=day).exclude(pk__in=keep))
    for lic in moved:
        years = (day - lic.ends_on).days // 365 + 1
        lic.ends_on += timedelta(days=365 * years)
        lic._change_reason = f"{REASON}: not due on {day}"
    user = author()
    for objs in (changed, moved):
        bulk_update_with_history(objs, License, ["ends_on"], batch_size=BATCH, default_user=user)
    out.write(
        f"due on {day}: {count:,} active licenses end on {before} "
        f"({len(changed):,} changed, {len(moved):,} others moved past {day})"
    )


def pick_due(day: date, count: int) -> list[License]:
    """`count` active licenses that expire when due on `day`: those already due first,
    then others spread over kinds and partners."""
    active = License.objects.filter(state=LicenseState.ACTIVE)
    good = Partner.objects.in_good_standing(day).values("pk")
    # Trials always expire; Demo/Internal licenses expire unless the partner is in
    # good standing on the day after their end (here: on `day`).
    will_expire = Q(policy__kind=LicenseKind.TL) | ~Q(partner__in=good)
    due_now = list(
        active.filter(ends_on__lt=day).filter(will_expire).order_by("ends_on", "pk")[:count]
    )
    if len(due_now) < count:
        # A deterministic shuffle: every kind in proportion, licenses of many partners.
        shuffle = Mod(F("pk") * 7919, 10007)
        due_now += list(
            active.filter(ends_on__gte=day)
            .filter(will_expire)
            .order_by(shuffle, "pk")[: count - len(due_now)]
        )
    if len(due_now) < count:
        raise CommandError(NOT_ENOUGH_DUE.format(found=len(due_now), day=day, wanted=count))
    return due_now


def author():
    """scale.licensing, the author of the scale data, or the nightly run's user on a
    database seeded otherwise."""
    from licensing.nightly import system_user

    return get_user_model().objects.filter(username="scale.licensing").first() or (system_user())
