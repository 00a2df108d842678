"""Read questions of IPP that more than one place asks, answered once: which license lets
other infrastructures' applications run on a target, and which infrastructures a user sees."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from licensing.choices import LicenseKind, LicenseState
from licensing.models import Infrastructure, License
from partners.scoping import scope

INFRA_REGION = "owner_partner__region"


def target_trials(target: Infrastructure) -> QuerySet[License]:
    """The Trial licenses of `target`, newest first, with their policy."""
    return (
        License.objects.filter(infrastructure=target, policy__kind=LicenseKind.TL)
        .select_related("policy")
        .order_by("-id")
    )


def live_target_license(target: Infrastructure, on: date) -> License | None:
    """The license that lets other infrastructures' applications run on `target` on the day
    `on`, or None: an active Trial on or before its last day, or a converted one (the
    customer's license). A Trial past `ends_on` counts as ended even while the nightly run
    has not expired it yet."""
    return (
        target_trials(target)
        .filter(Q(state=LicenseState.CONVERTED) | Q(state=LicenseState.ACTIVE, ends_on__gte=on))
        .first()
    )


def visible_infrastructures(user) -> QuerySet[Infrastructure]:
    """The infrastructures `user` may see, as `partners.scoping.scope` decides by role."""
    return scope(
        Infrastructure.objects.select_related("owner_partner__region", "platform_release"),
        user,
        region_path=INFRA_REGION,
    )
