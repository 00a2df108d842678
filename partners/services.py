"""Rules about partners. `standing` is the one place good standing is decided.

`today` is re-exported from `partners.dates` for the callers that import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .dates import today
from .models import Partner

NO_TERM = "no partnership term covers {on}"
TERM_NOT_SIGNED = "the partnership term {term} is not signed"
TERM_REVOKED = "the partnership term {term} was revoked by the {by} on {revoked_on}"
NOT_AUTHORIZED = "neither Sales nor Delivery authorized on {on}"
OPEN_INCIDENT = "unresolved compliance incident: {kind} (opened {opened_on})"
FEE_NOT_CONFIRMED = "the fee of the partnership term {term} is neither confirmed nor waived"
# The history reason of a partner the nightly run marks former.
FORMER_NOT_RENEWED = "former: partnership not renewed"


@dataclass(frozen=True)
class Standing:
    good: bool
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "in good standing" if self.good else "; ".join(self.reasons)


def standing(partner: Partner, *, on: date | None = None) -> Standing:
    """Whether `partner` is in good standing on `on`, naming every condition that fails.

    1. a term covers the day, is signed and is not revoked;
    2. the partner is Sales or Delivery authorized;
    3. no compliance incident is unresolved;
    4. that term's fee is confirmed or waived.

    Reads `partner.terms` and `partner.incidents` through the prefetch cache when present
    (`Partner.objects.with_standing_data()`), so lists pay no query per row.
    """
    on = on or today()
    reasons: list[str] = []
    term = partner.term_covering(on)
    if term is None:
        reasons.append(NO_TERM.format(on=on))
    else:
        if not term.is_signed(on):
            reasons.append(TERM_NOT_SIGNED.format(term=term))
        if term.is_revoked(on):
            reasons.append(
                TERM_REVOKED.format(
                    term=term, by=term.get_revoked_by_display().lower(), revoked_on=term.revoked_on
                )
            )
    if not partner.is_authorized(on):
        reasons.append(NOT_AUTHORIZED.format(on=on))
    for incident in partner.incidents.all():
        if incident.is_open(on):
            reasons.append(
                OPEN_INCIDENT.format(kind=incident.get_kind_display(), opened_on=incident.opened_on)
            )
    if term is not None and not term.fee_settled(on):
        reasons.append(FEE_NOT_CONFIRMED.format(term=term))
    return Standing(good=not reasons, reasons=reasons)
