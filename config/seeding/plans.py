"""The plan of the scale data, drawn before a row is written: each partner's standing
profile, country and terms, then each license's kind, state, partner and hosting.

Planning first lets a license pick a partner of the right profile (an expired Demo license
belongs to a partner not in good standing) and keeps the SPEC's "one live license per
slot" rule without asking the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from licensing.choices import Hosting, LicenseKind
from partners.models import Opportunity, Region

from .context import PREFIX, Seeding, year_from

# Standing profiles of partners and their weights.
PROFILES = {
    "good": 60,
    "unsigned": 4,
    "revoked": 4,
    "fee_unconfirmed": 5,
    "not_authorized": 5,
    "open_incident": 6,
    "lapsed": 6,
    "former": 6,
    "prospective": 4,
}
BAD = ("unsigned", "revoked", "fee_unconfirmed", "not_authorized", "open_incident")
KINDS = {LicenseKind.DL: 25, LicenseKind.IL: 15, LicenseKind.TL: 60}
# Pending work is a small share, as on a desk that keeps up: about a day's worth of
# requests and three days' worth of approvals waiting for provisioning.
STATES = {
    LicenseKind.DL: {
        "active": 66,
        "expired": 6,
        "cancelled": 15,
        "requested": 1.5,
        "approved": 1.5,
        "refused": 8,
    },
    LicenseKind.TL: {
        "active": 42,
        "expired": 7,
        "cancelled": 22,
        "converted": 10,
        "requested": 2,
        "approved": 1.5,
        "refused": 12,
    },
}
STATES[LicenseKind.IL] = STATES[LicenseKind.DL]
PROVISIONED = ("active", "expired", "cancelled", "converted")
LIVE = ("requested", "approved", "active", "expired")


@dataclass
class PartnerPlan:
    index: int
    profile: str
    region: Region
    country: str
    terms: list[dict] = field(default_factory=list)
    pk: int | None = None
    live: set = field(default_factory=set)  # (kind, hosting group) of live licenses

    @property
    def name(self) -> str:
        return f"{PREFIX} {self.index:06d}"

    @property
    def current(self) -> dict | None:
        """The term covering T (set when planning)."""
        return next((t for t in self.terms if t.get("current")), None)


@dataclass
class LicensePlan:
    kind: str
    state: str
    partner: PartnerPlan
    hosting: str
    opportunity: Opportunity | None = None


def plan_partners(run: Seeding, count: int, offset: int) -> list[PartnerPlan]:
    """`count` partners numbered after `offset`, spread over the regions, with their terms."""
    names, weights = list(PROFILES), list(PROFILES.values())
    plans = []
    for i in range(count):
        region = run.regions[i % len(run.regions)]
        # The first partners take every profile once: small data sets have them all.
        profile = names[i] if i < len(names) else run.rng.choices(names, weights)[0]
        plan = PartnerPlan(
            index=offset + i + 1,
            profile=profile,
            region=region,
            country=run.rng.choice(region.countries),
        )
        plan.terms = plan_terms(run, plan.profile)
        plans.append(plan)
    return plans


def plan_terms(run: Seeding, profile: str) -> list[dict]:
    """Consecutive yearly terms, newest first; the one covering T is marked current."""
    rng, t = run.rng, run.t
    if profile == "prospective":
        return []
    if profile == "former":
        last_end = t - timedelta(days=rng.randint(31, 500))
    elif profile == "lapsed":
        last_end = t - timedelta(days=rng.randint(1, 29))  # within the grace period
    else:
        last_end = year_from(t - timedelta(days=rng.randint(0, 364)))
    count = rng.choice([1, 2, 2, 3])
    renewed_ahead = profile == "good" and last_end - t < timedelta(days=60)
    renewed_ahead = renewed_ahead and rng.random() < 0.5
    spans = []
    if renewed_ahead:
        spans.append((last_end + timedelta(days=1), year_from(last_end + timedelta(days=1))))
        count = min(count, 2)
    end = last_end
    for _ in range(count):
        start = end + timedelta(days=1) - relativedelta(years=1)
        spans.append((start, end))
        end = start - timedelta(days=1)
    return [plan_term(run, profile, start, end) for start, end in spans]


def plan_term(run: Seeding, profile: str, start, end) -> dict:
    """One term's fields; the current one carries the profile's fault, if any."""
    rng, t = run.rng, run.t
    signed = min(start, t) - timedelta(days=rng.randint(1, 20))
    term = {
        "starts_on": start,
        "ends_on": end,
        "signed_on": signed,
        "fee_amount": rng.choice([2500, 5000, 7500, 10000]),
        "fee_confirmed_on": min(start + timedelta(days=rng.randint(0, 20)), t),
        "fee_waived": False,
        "current": start <= t <= end,
    }
    if term["fee_confirmed_on"] < signed:
        term["fee_confirmed_on"] = signed
    if profile == "good" and rng.random() < 0.1:
        term["fee_confirmed_on"], term["fee_waived"] = None, True
    if term["current"]:
        if profile == "unsigned":
            term["signed_on"] = None
        elif profile == "revoked":
            term["revoked_on"] = max(start, t - timedelta(days=rng.randint(1, 90)))
            term["revoked_by"] = rng.choice(["partner", "vendor"])
        elif profile == "fee_unconfirmed":
            term["fee_confirmed_on"] = None
    return term


def plan_licenses(run: Seeding, partners: list[PartnerPlan], count: int) -> list[LicensePlan]:
    """`count` licenses, kinds and states by their weights, each on a fitting partner."""
    rng = run.rng
    pools = {
        "live_partner": [p for p in partners if p.profile == "good" or p.profile in BAD],
        "not_good": [p for p in partners if p.profile in BAD or p.profile == "lapsed"],
        "any": [p for p in partners if p.profile != "prospective"],
        "trial": [p for p in partners if p.profile not in ("former", "lapsed")],
    }
    kinds, kind_weights = list(KINDS), list(KINDS.values())
    plans = []
    for _ in range(count):
        kind = rng.choices(kinds, kind_weights)[0]
        states = STATES[kind]
        state = rng.choices(list(states), list(states.values()))[0]
        if kind == LicenseKind.TL:
            pool = pools["trial"]
            if state == "converted":
                pool = pools["live_partner"]
            hosting = Hosting.DEDICATED_CLOUD if rng.random() < 0.7 else Hosting.ON_PREMISES
        else:
            # Expired Demo/Internal licenses belong to partners not in good standing, as
            # after a real nightly run (in good standing they would have renewed).
            pool = {"expired": "not_good", "cancelled": "any"}.get(state, "live_partner")
            pool = pools[pool]
            hosting = Hosting.ON_PREMISES
            if kind == LicenseKind.DL and rng.random() < 0.85:
                hosting = Hosting.SHARED_CLOUD
        if not pool:  # tiny data sets: no partner of the wanted profile
            pool = pools["any"] or partners
            state = "cancelled" if kind != LicenseKind.TL and state in LIVE else state
        partner, state = pick_partner(run, pool, kind, hosting, state)
        if partner.profile == "prospective" and kind != LicenseKind.TL:
            kind, hosting = LicenseKind.TL, Hosting.DEDICATED_CLOUD
        plans.append(LicensePlan(kind=kind, state=state, partner=partner, hosting=hosting))
    return plans


def pick_partner(run: Seeding, pool: list, kind: str, hosting: str, state: str):
    """(partner, state): a partner of `pool`; a live Demo/Internal license takes a slot,
    one live cloud DL, one on-premises DL and one IL per partner (SPEC rules): after a few
    partners tried, the extra one is historical (cancelled or refused)."""
    rng = run.rng
    partner = rng.choice(pool)
    if kind != LicenseKind.TL and state in LIVE:
        slot = (kind, hosting)
        for _ in range(3):
            if slot not in partner.live:
                break
            partner = rng.choice(pool)
        if slot in partner.live:
            state = "cancelled" if rng.random() < 0.7 else "refused"
        else:
            partner.live.add(slot)
    return partner, state
