"""Realistic demo data: regions, partners in many countries, every standing case, users.

Idempotent: records are matched by their natural keys and brought to the wanted state, so a
second run (today or another day) ends with the same counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from ipp.demo import seed_ipp
from licensing import services
from licensing.models import License, PlatformRelease
from partners import roles
from partners.models import (
    ComplianceIncident,
    Contact,
    Opportunity,
    Partner,
    PartnershipTerm,
    Region,
)
from partners.services import standing, today

DUMMY_MAIL = "django.core.mail.backends.dummy.EmailBackend"
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


def terms_for(case: str, t: date) -> list[TermSpec]:
    """The terms a partner of this standing case has, relative to today `t`."""
    if case in ("prospective",):
        return []
    start = t - timedelta(days=120)
    if case == "renewing_soon":
        start = t - timedelta(days=340)
    if case in ("lapsed", "former"):
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


class Command(BaseCommand):
    help = "Create or refresh the demo data set (idempotent). Dev password: " + DEMO_PASSWORD

    def handle(self, *args, **options):
        t = today()
        # Demo contacts are fictitious: their onboarding mails are recorded as Notifications
        # but not delivered (nor printed) when tasks run inline.
        logging.disable(logging.INFO)  # one line per mail and task would drown the progress
        try:
            with override_settings(EMAIL_BACKEND=DUMMY_MAIL), transaction.atomic():
                users = self.seed_users()
                regions = self.seed_regions(users)
                self.seed_releases(t)
                self.seed_partners(t, users, regions)
                self.seed_licenses(t, users)
                seed_ipp(self.stdout)
        finally:
            logging.disable(logging.NOTSET)
        self.summary(t)

    def seed_users(self) -> dict:
        User = get_user_model()
        users = {}
        for username, first, last, groups, superuser in USERS:
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@desk.example.com",
                    "is_staff": True,
                    "is_superuser": superuser,
                    "is_active": True,
                },
            )
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            user.groups.set(Group.objects.filter(name__in=groups))
            users[username] = user
        self.stdout.write(f"users: {len(users)} (password '{DEMO_PASSWORD}')")
        return users

    def seed_regions(self, users) -> dict:
        regions = {}
        for code, name, manager in REGIONS:
            region, _ = Region.objects.update_or_create(code=code, defaults={"name": name})
            region.channel_managers.set([users[manager]])
            regions[code] = region
        self.stdout.write(f"regions: {len(regions)}")
        return regions

    def seed_releases(self, t: date) -> None:
        for version, offset, stable in RELEASES:
            PlatformRelease.objects.update_or_create(
                version=version,
                defaults={"released_on": t + timedelta(days=offset), "is_stable": stable},
            )
        self.stdout.write(f"platform releases: {len(RELEASES)}")

    def seed_partners(self, t: date, users, regions) -> None:
        total = len(PARTNERS)
        architects = [users["architect"], users["architect2"]]
        for i, (name, country, region_code, case) in enumerate(PARTNERS, start=1):
            region = regions[region_code]
            status = {"former": "former", "prospective": "prospective"}.get(case, "active")
            authorized = case not in ("not_authorized", "new_partner", "prospective")
            partner, _ = Partner.objects.update_or_create(
                name=name,
                defaults={
                    "country": country,
                    "region": region,
                    "status": status,
                    "channel_manager": region.channel_managers.first(),
                    "sales_authorized_on": t - timedelta(days=400) if authorized else None,
                    "delivery_authorized_on": (
                        t - timedelta(days=200) if authorized and i % 2 else None
                    ),
                },
            )
            self.seed_contacts(partner)
            self.seed_terms(partner, terms_for(case, t))
            self.seed_incidents(partner, case, t)
            if status != "prospective":
                self.seed_opportunities(partner, i, t, architects)
            if i % 10 == 0 or i == total:
                self.stdout.write(f"  partners {i}/{total}")

    def seed_contacts(self, partner: Partner) -> None:
        slug = "".join(c for c in partner.name.lower() if c.isalnum())[:20]
        for role, person in (("financial", "Finance Office"), ("technical", "Tech Lead")):
            Contact.objects.update_or_create(
                partner=partner,
                role=role,
                defaults={
                    "name": f"{person} {partner.name.split()[0]}",
                    "email": f"{role}@{slug}.example.com",
                },
            )

    def seed_terms(self, partner: Partner, wanted: list[TermSpec]) -> None:
        keys = {(w.starts_on, w.ends_on) for w in wanted}
        for term in partner.terms.all():
            if (term.starts_on, term.ends_on) not in keys:
                term.delete()  # dates moved since the last run: make room (no overlap)
        for spec in wanted:
            PartnershipTerm.objects.update_or_create(
                partner=partner,
                starts_on=spec.starts_on,
                ends_on=spec.ends_on,
                defaults={
                    "signed_on": spec.signed_on,
                    "revoked_on": spec.revoked_on,
                    "revoked_by": spec.revoked_by,
                    "fee_amount": 5000,
                    "fee_confirmed_on": spec.fee_confirmed_on,
                    "fee_waived": spec.fee_waived,
                },
            )

    def seed_incidents(self, partner: Partner, case: str, t: date) -> None:
        if case == "open_incident":
            ComplianceIncident.objects.update_or_create(
                partner=partner,
                kind="users_outside_country",
                defaults={
                    "opened_on": t - timedelta(days=20),
                    "resolved_on": None,
                    "notes": "Internal users found connecting from outside the country.",
                },
            )
        if case in ("good_renewed", "renewal_pending"):
            ComplianceIncident.objects.update_or_create(
                partner=partner,
                kind="over_limit",
                defaults={
                    "opened_on": t - timedelta(days=300),
                    "resolved_on": t - timedelta(days=280),
                    "notes": "Exceeded 2400 AOs on the DL; components archived.",
                },
            )

    def seed_opportunities(self, partner: Partner, i: int, t: date, architects) -> None:
        for n in range(2 if i % 3 else 1):
            status = OPPORTUNITY_STATUSES[(i + n) % len(OPPORTUNITY_STATUSES)]
            registered = t - timedelta(days=30 + 7 * ((i + n) % 9))
            Opportunity.objects.update_or_create(
                partner=partner,
                prospect_name=PROSPECTS[(i * 3 + n) % len(PROSPECTS)] + f" ({partner.country})",
                defaults={
                    "prospect_country": partner.country,
                    "registered_on": registered,
                    "status": status,
                    "solution_architect": None
                    if status == "registered"
                    else architects[(i + n) % 2],
                    "closed_on": registered + timedelta(days=21)
                    if status in ("won", "lost")
                    else None,
                },
            )

    def seed_licenses(self, t: date, users) -> None:
        """Licenses of every kind and state, made through the services as people would.

        A license is made once per (partner, kind, hosting): later runs leave it as it is.
        """
        team, architect = users["licensing"], users["architect"]
        partners = {p.name: p for p in Partner.objects.select_related("region")}

        def cm(partner):
            return partner.region.channel_managers.first()

        def make(name, kind, state, hosting=None, days_ago=60, by=None, registered=None):
            partner = partners[name]
            policy_hosting = hosting or {"DL": "shared_cloud", "IL": "on_premises"}.get(kind)
            existing = License.objects.filter(partner=partner, policy__kind=kind)
            if policy_hosting:
                existing = existing.filter(hosting=policy_hosting)
            if existing.exists():
                return None
            day = t - timedelta(days=days_ago)
            opportunity = None
            if kind == "TL" and partner.status != "prospective":
                opportunity, _ = Opportunity.objects.update_or_create(
                    partner=partner,
                    prospect_name=f"Trial prospect of {partner.name.split()[0]}",
                    defaults={
                        "prospect_country": partner.country,
                        "registered_on": day - timedelta(days=20),
                        "status": "approved",
                        "solution_architect": architect,
                        "closed_on": None,
                    },
                )
            requester = by or (architect if opportunity else cm(partner))
            lic = services.request_license(
                partner=partner,
                kind=kind,
                by=requester,
                hosting=hosting,
                opportunity=opportunity,
                on=day,
            )
            if state == "requested":
                return lic
            if state == "refused":
                return services.refuse(
                    lic, by=team, reason="Duplicate of an earlier request", on=day
                )
            services.approve(lic, by=team, on=day)
            if state == "approved":
                return lic
            services.provision(lic, by=team, on=day)
            if registered:
                services.register_infrastructure(
                    activation_code=lic.activation_code,
                    registration_id=registered,
                    platform_version="11.29.0",
                    on=day + timedelta(days=2),
                )
            if state == "converted":
                opportunity.status, opportunity.closed_on = "won", t - timedelta(days=3)
                opportunity.save()
                services.convert(lic, by=architect, on=t - timedelta(days=2))
            if state in ("expired", "cancelled"):
                # What the nightly run does to a license the partner did not renew.
                lic.state, lic.expired_on = "expired", lic.ends_on + timedelta(days=1)
                lic._change_reason = "expired: partnership not renewed (demo data)"
                lic.save(update_fields=["state", "expired_on"])
            if state == "cancelled":
                services.cancel(lic, by=team, reason="Grace period over", on=t - timedelta(days=5))
            return lic

        plan = [
            ("Lisbon Low-Code Lda", "DL", "active", None, 110, None, None),
            ("Lisbon Low-Code Lda", "IL", "active", None, 100, None, "LISBON-ONPREM-01"),
            ("Lisbon Low-Code Lda", "DL", "active", "on_premises", 90, None, None),
            ("Berlin Bits GmbH", "DL", "active", None, 100, None, None),
            ("Berlin Bits GmbH", "IL", "requested", None, 2, None, None),
            ("Austin Automation LLC", "DL", "active", None, 80, None, None),
            ("Austin Automation LLC", "IL", "approved", None, 12, None, None),
            ("London Rapid Ltd", "DL", "active", None, 70, None, None),
            ("São Paulo Sistemas Ltda", "IL", "active", None, 50, None, None),
            ("Iberia Apps S.L.", "DL", "requested", None, 1, None, None),
            ("Amsterdam Fast Apps B.V.", "DL", "approved", None, 0, None, None),
            ("Sydney Solutions Pty", "DL", "refused", None, 30, None, None),
            ("Rotterdam Harbour IT", "DL", "expired", None, 200, None, None),
            ("Buenos Aires Software SA", "DL", "cancelled", None, 400, None, None),
            ("Tokyo Rapid KK", "TL", "active", None, 10, None, None),
            ("Boston Builders Inc.", "TL", "converted", None, 25, None, None),
            ("Ciudad de México Apps", "TL", "requested", None, 1, None, None),
            ("Stockholm Nordic Dev AB", "TL", "active", None, 5, team, None),
        ]
        for name, kind, state, hosting, days_ago, by, registered in plan:
            make(name, kind, state, hosting, days_ago, by, registered)
        self.stdout.write(f"licenses: {License.objects.count()}")

        # Extensions: one waiting for the licensing team, one trial extended by its architect.
        expired = License.objects.get(partner=partners["Rotterdam Harbour IT"], policy__kind="DL")
        if not expired.extensions.exists():
            services.request_extension(
                expired,
                by=cm(expired.partner),
                reason="legal_constraints",
                requested_until=t + timedelta(days=30),
                on=t,
            )
        trial = License.objects.get(partner=partners["Tokyo Rapid KK"], policy__kind="TL")
        if not trial.extensions.exists():
            services.request_extension(
                trial,
                by=architect,
                reason="trial_sales_cycle",
                requested_until=trial.ends_on + timedelta(days=30),
                evaluation="Second PoC phase agreed with the prospect; decision next month.",
                on=t,
            )

    def summary(self, t: date) -> None:
        partners = Partner.objects.with_standing_data()
        good = sum(standing(p, on=t).good for p in partners)
        self.stdout.write(
            self.style.SUCCESS(
                "demo data ready: "
                f"{Region.objects.count()} regions, {Partner.objects.count()} partners "
                f"in {Partner.objects.values('country').distinct().count()} countries "
                f"({good} in good standing), {PartnershipTerm.objects.count()} terms, "
                f"{Contact.objects.count()} contacts, {Opportunity.objects.count()} opportunities, "
                f"{ComplianceIncident.objects.count()} compliance incidents, "
                f"{License.objects.count()} licenses in "
                f"{License.objects.values('state').distinct().count()} states"
            )
        )
