"""seed_demo's data set: the users, regions, partners (one per standing case), releases,
prospects and licenses it makes, and the terms each standing case has.

Tables only: `config/management/commands/seed_demo.py` makes them, through the services
where people would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from partners import roles

DEMO_PASSWORD = "licensing-demo"  # noqa: S105 - documented development password

USERS = [
    # username, first, last, groups, superuser
    ("admin", "Ada", "Admin", [], True),
    ("licensing", "Lena", "Lindqvist", [roles.LICENSING_TEAM], False),
    ("cm.emea", "Marta", "Sousa", [roles.CHANNEL_MANAGER], False),
    ("cm.americas", "Carlos", "Mendes", [roles.CHANNEL_MANAGER], False),
    ("cm.apac", "Priya", "Raman", [roles.CHANNEL_MANAGER], False),
    ("architect", "Sam", "Okafor", [roles.SOLUTION_ARCHITECT], False),
    ("architect2", "Yuki", "Tanaka", [roles.SOLUTION_ARCHITECT], False),
    ("auditor", "Aaron", "Webb", [roles.AUDITOR], False),
]

REGIONS = [
    ("emea-north", "EMEA North", "cm.emea"),
    ("emea-south", "EMEA South", "cm.emea"),
    ("north-america", "North America", "cm.americas"),
    ("latam", "Latin America", "cm.americas"),
    ("apac", "Asia Pacific", "cm.apac"),
]

# name, country, region code, standing case
PARTNERS = [
    ("Lisbon Low-Code Lda", "PT", "emea-south", "good_renewed"),
    ("Porto Digital Works", "PT", "emea-south", "renewing_soon"),
    ("Iberia Apps S.L.", "ES", "emea-south", "good"),
    ("Madrid Process Studio", "ES", "emea-south", "fee_unconfirmed"),
    ("Roma Soluzioni Srl", "IT", "emea-south", "open_incident"),
    ("Milano Delivery Group", "IT", "emea-south", "good_waived"),
    ("Paris Agile Conseil", "FR", "emea-south", "revoked"),
    ("Lyon Integration SAS", "FR", "emea-south", "new_partner"),
    ("Berlin Bits GmbH", "DE", "emea-north", "renewal_pending"),
    ("München Workflow AG", "DE", "emea-north", "unsigned"),
    ("Amsterdam Fast Apps B.V.", "NL", "emea-north", "good"),
    ("Rotterdam Harbour IT", "NL", "emea-north", "lapsed"),
    ("London Rapid Ltd", "GB", "emea-north", "renewal_pending"),
    ("Manchester Makers Ltd", "GB", "emea-north", "former"),
    ("Stockholm Nordic Dev AB", "SE", "emea-north", "prospective"),
    ("Göteborg Cloud Crafters", "SE", "emea-north", "renewing_soon"),
    ("Austin Automation LLC", "US", "north-america", "good_renewed"),
    ("Boston Builders Inc.", "US", "north-america", "good"),
    ("Seattle Apps Co.", "US", "north-america", "open_incident"),
    ("Toronto Digital Inc.", "CA", "north-america", "good_waived"),
    ("Montréal Logiciels", "CA", "north-america", "not_authorized"),
    ("São Paulo Sistemas Ltda", "BR", "latam", "good_renewed"),
    ("Rio Low-Code Ltda", "BR", "latam", "fee_unconfirmed"),
    ("Ciudad de México Apps", "MX", "latam", "good"),
    ("Buenos Aires Software SA", "AR", "latam", "lapsed"),
    ("Santiago Digital SpA", "CL", "latam", "prospective"),
    ("Tokyo Rapid KK", "JP", "apac", "good_renewed"),
    ("Osaka Systems KK", "JP", "apac", "revoked"),
    ("Sydney Solutions Pty", "AU", "apac", "good"),
    ("Melbourne Makers Pty", "AU", "apac", "renewing_soon"),
    ("Singapore Delivery Pte", "SG", "apac", "good_waived"),
    ("Bangalore Builders Pvt", "IN", "apac", "new_partner"),
    ("Mumbai Process Labs", "IN", "apac", "former"),
]

RELEASES = [
    ("11.28.0", -260, True),
    ("11.29.0", -170, True),
    ("11.30.0", -75, True),
    ("11.31.0", -12, False),
]

OPPORTUNITY_STATUSES = ["registered", "accepted", "approved", "won", "lost", "approved"]
PROSPECTS = [
    "Atlantic Insurance",
    "Northwind Logistics",
    "Contoso Health",
    "Fabrikam Energy",
    "Globex Retail",
    "Initech Bank",
    "Umbrella Pharma",
    "Stark Manufacturing",
    "Wayne Utilities",
    "Tyrell Telecom",
]


class LicenseSpec(NamedTuple):
    """A demo license: requested `days_ago` days before today, then taken to `state`."""

    partner: str
    kind: str
    state: str
    hosting: str | None = None  # None: the policy's usual hosting
    days_ago: int = 60
    by: str | None = None  # the requester's username, when not the usual requester
    registered: str | None = None  # the registration id entered on the portal, if any


LICENSES = [
    # Active DL/IL end on their partner's renewal date (TERM_AGE below spreads them over the
    # year): Lisbon within 7 days, Berlin within 30, Austin within 60 of today.
    LicenseSpec("Lisbon Low-Code Lda", "DL", "active", days_ago=110),
    LicenseSpec("Lisbon Low-Code Lda", "IL", "active", days_ago=100, registered="LISBON-ONPREM-01"),
    LicenseSpec("Lisbon Low-Code Lda", "DL", "active", "on_premises", days_ago=90),
    LicenseSpec("Berlin Bits GmbH", "DL", "active", days_ago=100),
    LicenseSpec("Berlin Bits GmbH", "IL", "requested", days_ago=2),
    LicenseSpec("Austin Automation LLC", "DL", "active", days_ago=80),
    # Approved 12 days ago and never provisioned: the nights flag it overdue and alert.
    LicenseSpec("Austin Automation LLC", "IL", "approved", days_ago=12),
    LicenseSpec("London Rapid Ltd", "DL", "active", days_ago=70),
    LicenseSpec("São Paulo Sistemas Ltda", "IL", "active", days_ago=50),
    LicenseSpec("Madrid Process Studio", "DL", "active", days_ago=60),
    LicenseSpec("Toronto Digital Inc.", "DL", "active", days_ago=40),
    LicenseSpec("Milano Delivery Group", "DL", "active", days_ago=30),
    LicenseSpec("Singapore Delivery Pte", "DL", "active", days_ago=20),
    LicenseSpec("Iberia Apps S.L.", "DL", "requested", days_ago=1),
    LicenseSpec("Amsterdam Fast Apps B.V.", "DL", "approved", days_ago=0),
    LicenseSpec("Sydney Solutions Pty", "DL", "refused", days_ago=30),
    # Active when made; the nights do the rest: its term ended 21 days ago, so it expired
    # (a refused extension, then a new request follow) ...
    LicenseSpec("Rotterdam Harbour IT", "DL", "expired", days_ago=200),
    # ... and this one's 45 days ago: expired, then cancelled once the grace period was over.
    LicenseSpec("Buenos Aires Software SA", "DL", "cancelled", days_ago=100),
    LicenseSpec("Tokyo Rapid KK", "TL", "active", days_ago=10),
    # Trials ending within the 3-day and the 14-day reminder windows, and one expired.
    LicenseSpec("Iberia Apps S.L.", "TL", "active", days_ago=28),
    LicenseSpec("Milano Delivery Group", "TL", "active", days_ago=20),
    LicenseSpec("Sydney Solutions Pty", "TL", "expired", days_ago=45),
    LicenseSpec("Boston Builders Inc.", "TL", "converted", days_ago=25),
    LicenseSpec("Ciudad de México Apps", "TL", "requested", days_ago=1),
    # Only the licensing team may ask for a prospective partner's trial.
    LicenseSpec("Stockholm Nordic Dev AB", "TL", "active", days_ago=5, by="licensing"),
]

# Days since the partner's current term began (default 120): its renewal date, and so its
# Demo and Internal licenses' end, falls 364 − N days from today.
TERM_AGE = {
    "Lisbon Low-Code Lda": 359,  # ends in 5 days: the 7-day reminder went out
    "Berlin Bits GmbH": 340,  # in 24 days: the 30-day reminder
    "Austin Automation LLC": 310,  # in 54 days: the 60-day reminder
    "London Rapid Ltd": 250,
    "Madrid Process Studio": 200,
    "São Paulo Sistemas Ltda": 180,
    "Tokyo Rapid KK": 150,
    "Toronto Digital Inc.": 100,
    "Milano Delivery Group": 60,
    "Singapore Delivery Pte": 30,
    "Buenos Aires Software SA": 364 + 45,  # lapsed 45 days ago
}


@dataclass
class TermSpec:
    starts_on: date
    ends_on: date
    signed_on: date | None = None
    revoked_on: date | None = None
    revoked_by: str = ""
    fee_confirmed_on: date | None = None
    fee_waived: bool = False


def year_from(start: date) -> date:
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + 1, day=28)


def terms_for(case: str, t: date, age: int = 120) -> list[TermSpec]:
    """The terms a partner of this standing case has, relative to today `t`; the current
    one began `age` days ago (cases with a fixed age ignore it)."""
    if case in ("prospective",):
        return []
    start = t - timedelta(days=age)
    if case == "renewing_soon":
        start = t - timedelta(days=340)
    if case in ("lapsed", "former") and age == 120:
        start = t - timedelta(days=365 + (20 if case == "lapsed" else 200))
    current = TermSpec(start, year_from(start), signed_on=start - timedelta(days=10))
    current.fee_confirmed_on = start + timedelta(days=15)
    if case == "good_waived":
        current.fee_confirmed_on, current.fee_waived = None, True
    elif case == "fee_unconfirmed":
        current.fee_confirmed_on = None
    elif case == "unsigned":
        current.signed_on = None
    elif case == "revoked":
        current.revoked_on, current.revoked_by = t - timedelta(days=9), "partner"
    terms = [current]
    if case == "good_renewed":
        # Renewed ahead of time: its licenses renew on the renewal date.
        following = current.ends_on + timedelta(days=1)
        terms.append(
            TermSpec(
                following,
                year_from(following),
                signed_on=t - timedelta(days=5),
                fee_confirmed_on=t - timedelta(days=5),
            )
        )
    if case in ("good_renewed", "renewal_pending", "lapsed", "former"):
        previous_start = start.replace(year=start.year - 1)
        terms.append(
            TermSpec(
                previous_start,
                start - timedelta(days=1),
                signed_on=previous_start - timedelta(days=7),
                fee_confirmed_on=previous_start + timedelta(days=20),
            )
        )
    return terms
