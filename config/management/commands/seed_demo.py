"""Realistic demo data: regions, partners in many countries, every standing case, users.

Idempotent: records are matched by their natural keys and brought to the wanted state, so a
second run (today or another day) ends with the same counts. The data set itself (users,
partners, licenses...) is in `config/seeding/demo.py`.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from config.seeding import year
from config.seeding.demo import (
    DEMO_PASSWORD,
    LICENSES,
    OPPORTUNITY_STATUSES,
    PARTNERS,
    PROSPECTS,
    REGIONS,
    RELEASES,
    TERM_AGE,
    USERS,
    LicenseSpec,
    TermSpec,
    terms_for,
)
from config.seeding.usage import seed_usage
from ipp.demo import seed_ipp
from ipp.services import issue_token
from licensing import services
from licensing.models import License, PlatformRelease
from licensing.services.files import issue_license_file
from partners.models import (
    ComplianceIncident,
    Contact,
    Opportunity,
    Partner,
    PartnershipTerm,
    Region,
)
from partners.services import set_opportunity_status, standing, today

DUMMY_MAIL = "django.core.mail.backends.dummy.EmailBackend"


def channel_manager(partner: Partner):
    """Who asks for the partner's Demo and Internal licenses: its region's channel manager."""
    return partner.region.channel_managers.first()


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
                seed_usage(t, self.stdout)  # last: it reads the licenses made above
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
            self.seed_terms(partner, terms_for(case, t, TERM_AGE.get(name, 120)))
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
                usage_report=None,  # typed by hand: not one the nightly usage check opened
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
                usage_report=None,  # typed by hand: not one the nightly usage check opened
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
        """Licenses of every kind and state, made afresh through the services as people
        would, each on its day; the last `year.NIGHTS` nights run in between, as they
        would have (see config/seeding/year.py); then the extensions and API tokens."""
        partners = {p.name: p for p in Partner.objects.select_related("region")}
        year.clear_licensing(partners[name] for name, *_ in PARTNERS)
        by_age = sorted(LICENSES, key=lambda spec: -spec.days_ago)
        for spec in by_age:
            if spec.days_ago > year.NIGHTS:
                with year.lived_on(t - timedelta(days=spec.days_ago), 10):
                    self.seed_license(spec, partners[spec.partner], t, users)
        summed: dict = {}
        for day in year.nights(t):
            with year.lived_on(day, 2):
                for action, n in services.run_nightly(today=day).items():
                    summed[action] = summed.get(action, 0) + n
            with year.lived_on(day, 10):
                for spec in by_age:
                    if t - timedelta(days=spec.days_ago) == day:
                        self.seed_license(spec, partners[spec.partner], t, users)
                if day == t - timedelta(days=12):
                    self.seed_refused_extension(day, users, partners)
        for spec in by_age:
            if spec.days_ago == 0:
                self.seed_license(spec, partners[spec.partner], t, users)
        done = ", ".join(f"{n} {action}" for action, n in summed.items() if n)
        self.stdout.write(f"nightly runs: {year.NIGHTS} nights ({done})")
        self.stdout.write(f"licenses: {License.objects.count()}")
        self.seed_extensions(t, users, partners)
        self.seed_tokens(users)

    def seed_license(self, spec: LicenseSpec, partner: Partner, t: date, users) -> None:
        """Asked for on its day and taken to its state that day; an expired or cancelled
        one is made active, and the nights that follow expire or cancel it."""
        team, architect = users["licensing"], users["architect"]
        day = t - timedelta(days=spec.days_ago)
        opportunity = None
        if spec.kind == "TL" and partner.status != "prospective":
            opportunity = self.trial_opportunity(partner, day, architect)
        if spec.by:
            requester = users[spec.by]
        else:
            requester = architect if opportunity else channel_manager(partner)
        lic = services.request_license(
            partner=partner,
            kind=spec.kind,
            by=requester,
            hosting=spec.hosting,
            opportunity=opportunity,
            on=day,
        )
        if spec.state == "requested":
            return
        if spec.state == "refused":
            services.refuse(lic, by=team, reason="Duplicate of an earlier request", on=day)
            return
        services.approve(lic, by=team, on=day)
        if spec.state == "approved":
            return
        services.provision(lic, by=team, on=day)
        if spec.registered:
            with year.lived_on(day + timedelta(days=2), 9):
                registered = services.register_infrastructure(
                    activation_code=lic.activation_code,
                    registration_id=spec.registered,
                    platform_version="11.29.0",
                    on=day + timedelta(days=2),
                )
                # A server in each slot but the last, which stays free to show one.
                for name in lic.environment_names.split(",")[:-1]:
                    services.register_environment(
                        activation_code=lic.activation_code,
                        registration_id=spec.registered,
                        environment_name=name,
                        serial_number=f"{spec.registered}-{name[:3].upper()}",
                        on=day + timedelta(days=2),
                    )
                issue_license_file(registered, via="portal")  # downloaded right after
            year.portal_visits(lic, spec.registered, day + timedelta(days=2))
        if spec.state == "converted":
            # The deal is won as a channel manager would record it: closed three days ago.
            set_opportunity_status(opportunity, status="won", by=team, on=t - timedelta(days=3))
            services.convert(lic, by=architect, on=t - timedelta(days=2))

    def trial_opportunity(self, partner: Partner, day: date, architect) -> Opportunity:
        """The approved opportunity a trial is asked for, its architect the requester."""
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
        return opportunity

    def seed_refused_extension(self, day: date, users, partners: dict) -> None:
        """Expired eight days before: asked for without its papers, refused two days later."""
        expired = License.objects.get(partner=partners["Rotterdam Harbour IT"], policy__kind="DL")
        ext = services.request_extension(
            expired,
            by=channel_manager(expired.partner),
            reason="legal_constraints",
            requested_until=day + timedelta(days=60),
            on=day,
        )
        services.refuse_extension(
            ext,
            by=users["licensing"],
            reason="The legal constraint is not documented: attach counsel's letter.",
            on=day + timedelta(days=2),
        )

    def seed_extensions(self, t: date, users, partners: dict) -> None:
        """A second request waiting for the licensing team; a trial extended by its
        architect."""
        expired = License.objects.get(partner=partners["Rotterdam Harbour IT"], policy__kind="DL")
        services.request_extension(
            expired,
            by=channel_manager(expired.partner),
            reason="legal_constraints",
            requested_until=t + timedelta(days=30),
            on=t,
        )
        trial = License.objects.get(partner=partners["Tokyo Rapid KK"], policy__kind="TL")
        services.request_extension(
            trial,
            by=users["architect"],
            reason="trial_sales_cycle",
            requested_until=trial.ends_on + timedelta(days=30),
            evaluation="Second PoC phase agreed with the prospect; decision next month.",
            on=t,
        )

    def seed_tokens(self, users) -> None:
        """API tokens of the registered and the trial infrastructures (shown nowhere)."""
        tokens = 0
        for lic in License.objects.filter(state="active", infrastructure__isnull=False):
            if lic.policy.kind == "TL" or lic.infrastructure.registration_id:
                issue_token(lic.infrastructure, by=users["licensing"])
                tokens += 1
        self.stdout.write(f"API tokens: {tokens}")

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
        self.stdout.write(f"Demo users (password '{DEMO_PASSWORD}'):")
        for username, _first, _last, groups, superuser in USERS:
            role = "superuser" if superuser else ", ".join(groups)
            self.stdout.write(f"  {username:<12} {role}")
