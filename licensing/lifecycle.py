"""What each lifecycle transition does to a license: the one place those rules live.

Each function reads nothing from the database and writes nothing: it takes the license (a
model instance or a nightly `Row`, anything with the fields it reads) and what the rule
needs (the partner with its terms and incidents, a policy's grace days), and returns a
`Change`: the new field values and the reason the history keeps. A service applies it to
one license and saves it; the nightly run applies it to a batch and writes the batch in one
UPDATE. A change to the expiry rule is a change to `expire`, for the night and the
buttons alike.

Dates follow SPEC "Dates": `ends_on` is the last valid day, so a license expires on the day
after it, and an expired one is cancelled on the first day its grace period is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from partners.dates import stamp
from partners.services import standing

from .choices import ExtensionState, LicenseState

ONE_DAY = timedelta(days=1)
# Why a waiting extension request ends when its license is cancelled (SPEC "Loose ends").
LICENSE_CANCELLED = "license cancelled"


@dataclass(frozen=True)
class Change:
    """New values for some of a license's (or an extension's) fields, and why (the history
    row's reason)."""

    values: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def fields(self) -> list[str]:
        return list(self.values)

    def apply(self, lic) -> list[str]:
        """Set the values and the history reason on `lic`; return the changed fields."""
        for name, value in self.values.items():
            setattr(lic, name, value)
        lic._change_reason = self.reason
        return self.fields


def end_of_term(partner, on: date) -> date | None:
    """The end of the partnership term covering `on` (the partner's renewal date): where a
    Demo or Internal license runs to. None when no term covers the day."""
    return partner.renewal_date(on)


# --- Past the end ------------------------------------------------------------------------


def renew(lic, *, until: date) -> Change:
    """Renewed to `until`, the end of the next term (the state stays active)."""
    return Change({"ends_on": until}, f"renewed to {until}: partner in good standing")


EXPIRED_BECAUSE = "expired: "


def expire(lic, *, because: str) -> Change:
    """Not renewed: expired the day after its last valid day (no publishing from then)."""
    return Change(
        {"state": LicenseState.EXPIRED, "expired_on": lic.ends_on + ONE_DAY},
        f"{EXPIRED_BECAUSE}{because}",
    )


def why_expired(reason: str) -> str | None:
    """The `because` of an expiry's history reason (what its mail says); None for the
    reason of another change."""
    return reason.removeprefix(EXPIRED_BECAUSE) if reason.startswith(EXPIRED_BECAUSE) else None


def renew_or_expire(lic, partner) -> Change:
    """A Demo or Internal license past its end: it renews to the end of the term covering
    the day after its end when the partner is in good standing that day, else it expires
    naming every condition that failed. `partner` carries its terms and incidents."""
    after = lic.ends_on + ONE_DAY
    result = standing(partner, on=after)
    if result.good:
        return renew(lic, until=end_of_term(partner, after))
    return expire(lic, because="; ".join(result.reasons))


def expire_trial(lic) -> Change:
    """A trial past its end expires; trials never renew."""
    return expire(lic, because="end of the trial")


# --- Active again ------------------------------------------------------------------------


def reactivate(lic, *, until: date, reason: str) -> Change:
    """Active again to `until`, the expiry forgotten (a later one starts its own grace)."""
    return Change(
        {"state": LicenseState.ACTIVE, "ends_on": until, "expired_on": None},
        reason,
    )


def in_grace(lic, *, grace_days: int, on: date) -> bool:
    """Expired less than the policy's grace period before `on`: not cancelled yet."""
    return on < lic.expired_on + timedelta(days=grace_days)


def back_in_good_standing(lic, partner, *, grace_days: int, on: date) -> Change | None:
    """An expired Demo or Internal license, within grace, whose partner is in good standing
    on `on`: active again to the end of the term covering `on`. None otherwise."""
    if not in_grace(lic, grace_days=grace_days, on=on) or not standing(partner, on=on).good:
        return None
    until = end_of_term(partner, on)
    return reactivate(lic, until=until, reason=f"active again to {until}: back in good standing")


def extend(lic, *, until: date, reason: str) -> Change:
    """An extension granted (or a trial extended by its architect): active to `until`."""
    return reactivate(lic, until=until, reason=reason)


# --- Ended -------------------------------------------------------------------------------


def cancel(lic, *, reason: str, on: date) -> Change:
    """Cancelled by the licensing team, with their reason."""
    return Change(
        {"state": LicenseState.CANCELLED, "state_reason": reason, "cancelled_on": on},
        f"cancelled: {reason}",
    )


def cancel_after_grace(lic, *, grace_days: int, on: date) -> Change:
    """Expired for the whole grace period: cancelled, its applications taken offline."""
    why = f"grace period of {grace_days} days over"
    return Change(
        {"state": LicenseState.CANCELLED, "state_reason": why, "cancelled_on": on},
        f"cancelled: {why} (applications offline)",
    )


def close_extension_request(ext, *, by, on: date) -> Change:
    """The license of a waiting extension request was cancelled: nothing is left to extend,
    so the request is refused, decided by whoever cancelled (the system user at night)."""
    return Change(
        {
            "state": ExtensionState.REFUSED,
            "refusal_reason": LICENSE_CANCELLED,
            "decided_by": by,
            "decided_at": stamp(on),
        },
        f"refused: {LICENSE_CANCELLED}",
    )


def convert(lic, *, by, on: date) -> Change:
    """A won trial, technically validated by its architect: the customer's license now."""
    return Change(
        {"state": LicenseState.CONVERTED, "converted_on": on, "conversion_validated_by": by},
        "converted",
    )
