"""Scale data for benchmarks: tens of thousands of partners, hundreds of thousands of licenses.

    python manage.py seed_scale [--partners 20000] [--licenses 200000] [--force]
                                [--due-on YYYY-MM-DD --due N] [--seed 42]

Everything is written with `bulk_create` in batches of BATCH rows, each with its history
rows (`simple_history.utils.bulk_create_with_history`, author: the `scale.licensing` user,
reason "seed_scale"): no per-row save, no signals, no mail, no Celery task. On PostgreSQL
200,000 licenses (about 2.5 million rows with their infrastructures, environments and
history) take a few minutes. The day of reference T is today (UTC).

What it makes, relative to T (one random generator, `--seed`, so a run is reproducible):
- 10 regions (the demo ones are reused by code), a channel manager user per region
  (`scale.cm.<code>`), `scale.licensing`, `scale.auditor` and four `scale.architect<n>`
  users, all staff, with the demo password; the platform releases of the demo.
- partners "Scale Partner 000001"… in about 60 countries (their region's), with a standing
  profile: mostly good; not good for one named reason (unsigned, revoked, fee unconfirmed,
  not authorized, open compliance incident); lapsed (last term ended within the grace
  period); former; prospective (no term, trials only). Two contacts each; 1 to 3
  consecutive yearly terms (never overlapping: the database refuses that), some renewed
  ahead; some resolved compliance incidents.
- opportunities in every status (one approved or won per trial, a few more per partner).
- licenses of every kind and state. Active Demo/Internal licenses end on their partner's
  renewal date, active trials within 180 days: every future day has licenses due. Expired
  ones ended within the grace period (T-30…T-1), cancelled ones 31 to 60 days ago: the
  database looks as if the nightly run for T had already run. Approved ones past their
  provisioning deadline are already flagged. One live cloud DL, one on-premises DL and one
  IL per partner at most (extra ones are historical: cancelled or refused).
- an infrastructure (registration id "SCALE-0000001"…, unique) with its environments for
  every provisioned license, some IPP applications, permissions and deployment checks,
  and some extension requests.

Running it twice on one database is refused (the partners' names would collide and the
counts double): `--force` adds another set, numbered after the existing one.

`--due-on D --due N` then makes exactly N active licenses due on D (the nightly run for D
handles `state = active AND ends_on < D`): N active licenses that will expire on D (trials,
and Demo/Internal licenses of partners not in good standing on D) end on D - 1, and every
other active license ending before D is moved a year (or more) later. It writes history
rows too. On an already seeded database `--due-on/--due` alone (without --force) only does
this, so the benchmark resets its due set with it; run again it changes nothing.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Mod
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from ipp.models import Application, DeploymentCheck, DeploymentPermission
from licensing.choices import Hosting, LicenseKind, LicenseState
from licensing.models import (
    Environment,
    Extension,
    Infrastructure,
    License,
    LicensePolicy,
    PlatformRelease,
)
from partners import dashboard_cache, roles
from partners.models import (
    ComplianceIncident,
    Contact,
    Opportunity,
    Partner,
    PartnershipTerm,
    Region,
)
from partners.services import today

BATCH = 5000
PREFIX = "Scale Partner"
REASON = "seed_scale"
PASSWORD = "licensing-demo"  # noqa: S105 - the documented development password (README)
REGISTRATION_PREFIX = "SCALE-"

ALREADY_SEEDED = (
    "This database already holds scale data ({count:,} partners named '{prefix} …'): "
    "seeding again would double it. Run with --force to add another set, or with "
    "--due-on/--due alone to reset the licenses due on a day."
)
NOT_ENOUGH_DUE = (
    "Only {found:,} active licenses can be made due on {day} so that they expire there "
    "(trials, and Demo/Internal licenses of partners not in good standing on {day}); "
    "{wanted:,} were asked for: seed more licenses or ask for fewer."
)
DUE_WITHOUT_DAY = "--due-on and --due go together."
NO_POLICIES = "No license policies: run `manage.py migrate` first (a data migration makes them)."

# code, name, countries (ISO 3166 alpha-2, all known to django-countries)
REGIONS = [
    ("emea-north", "EMEA North", "GB IE NL BE LU PL CZ EE LV LT"),
    ("emea-south", "EMEA South", "PT ES IT FR GR MT CY HR SI RO"),
    ("north-america", "North America", "US CA"),
    ("latam", "Latin America", "BR MX AR CL CO PE UY CR PA EC"),
    ("apac", "Asia Pacific", "IN SG MY TH ID PH VN"),
    ("mea", "Middle East and Africa", "AE SA ZA EG MA KE NG IL TR QA"),
    ("dach", "DACH", "DE AT CH"),
    ("nordics", "Nordics", "SE NO DK FI IS"),
    ("oceania", "Oceania", "AU NZ"),
    ("east-asia", "East Asia", "JP KR TW HK"),
]
ARCHITECTS = 4
RELEASES = [("11.28.0", -260, True), ("11.29.0", -170, True), ("11.30.0", -75, True)]

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
OPPORTUNITY_STATUSES = ["registered", "accepted", "approved", "won", "lost"]
INCIDENT_KINDS = ["resale", "customer_specific_app", "external_access", "over_limit", "other"]
PROSPECTS = ["Atlantic", "Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Umbrella"]


def year_from(start: date) -> date:
    """The last day of a one-year term starting on `start`."""
    return start + relativedelta(years=1, days=-1)


def stamp(day: date) -> datetime:
    return datetime.combine(day, dtime(9, 0), tzinfo=UTC)


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


class Command(BaseCommand):
    help = "Fill the database fast with scale data for benchmarks (bulk inserts, with history)."

    def add_arguments(self, parser):
        parser.add_argument("--partners", type=int, default=None, help="default 20000")
        parser.add_argument("--licenses", type=int, default=None, help="default 200000")
        parser.add_argument("--force", action="store_true", help="seed again on seeded data")
        parser.add_argument("--due-on", type=date.fromisoformat, default=None, metavar="DAY")
        parser.add_argument("--due", type=int, default=None, metavar="N")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")

    def handle(self, *args, **options):
        due_on, due = options["due_on"], options["due"]
        if (due_on is None) != (due is None):
            raise CommandError(DUE_WITHOUT_DAY)
        if not LicensePolicy.objects.exists():
            raise CommandError(NO_POLICIES)
        started = time.monotonic()
        existing = Partner.objects.filter(name__startswith=f"{PREFIX} ").count()
        sizes_given = options["partners"] is not None or options["licenses"] is not None
        # Seed unless this is a due-set-only run (--due-on/--due alone, on seeded data).
        seed = not existing or options["force"] or sizes_given or due_on is None
        if existing and seed and not options["force"]:
            raise CommandError(ALREADY_SEEDED.format(count=existing, prefix=PREFIX))
        if seed:
            self.rng = random.Random(options["seed"])  # noqa: S311 - test data, not secrets
            self.t = today()
            partners = 20000 if options["partners"] is None else options["partners"]
            licenses = 200000 if options["licenses"] is None else options["licenses"]
            with transaction.atomic():
                self.seed(partners, licenses, offset=existing)
        elif due_on is not None:
            self.stdout.write(f"already seeded ({existing:,} scale partners): due set only")
        if due_on is not None:
            with transaction.atomic():
                self.make_due(due_on, due)
        # Bulk inserts send no signals: the dashboard's cached figures are counted again.
        dashboard_cache.data_changed()
        if seed:
            self.summary(time.monotonic() - started)

    # --- progress --------------------------------------------------------------------------

    def insert(self, model, objs: list, label: str | None = None) -> list:
        """bulk_create_with_history in batches, printing a line per batch."""
        label = label or str(model._meta.verbose_name_plural)
        created = []
        for start in range(0, len(objs), BATCH):
            chunk = objs[start : start + BATCH]
            began = time.monotonic()
            created += self.bulk(model, chunk)
            self.progress(label, start + len(chunk), len(objs), 2 * len(chunk), began)
        return created

    def bulk(self, model, objs: list) -> list:
        """One bulk insert of `objs` and one of their history rows (no save, no signal)."""
        return bulk_create_with_history(
            objs, model, batch_size=BATCH, default_user=self.user, default_change_reason=REASON
        )

    def progress(self, label: str, done: int, total: int, rows: int, began: float) -> None:
        rate = rows / max(time.monotonic() - began, 1e-6)
        self.stdout.write(f"  {label:<26} {done:>9,}/{total:<9,} {rate:>10,.0f} rows/s")

    # --- the seed --------------------------------------------------------------------------

    def seed(self, n_partners: int, n_licenses: int, offset: int) -> None:
        self.stdout.write(
            f"seeding {n_partners:,} partners and {n_licenses:,} licenses "
            f"(day of reference {self.t})"
        )
        self.policies = {p.kind: p for p in LicensePolicy.objects.all()}
        self.seed_users_and_regions()
        self.seed_releases()
        plans = self.seed_partners(n_partners, offset)
        licenses = self.plan_licenses(plans, n_licenses)
        self.seed_opportunities(plans, licenses)
        infrastructures = self.seed_licenses(licenses)
        self.seed_ipp(infrastructures)

    def seed_users_and_regions(self) -> None:
        User = get_user_model()
        password = make_password(PASSWORD)  # hashed once: the same for every scale user
        groups = {g.name: g for g in Group.objects.all()}

        def user(username: str, role: str | None, first: str, last: str):
            obj, _ = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@desk.example.com",
                    "is_staff": True,
                    "password": password,
                },
            )
            if role:
                obj.groups.add(groups[role])
            return obj

        self.user = user("scale.licensing", roles.LICENSING_TEAM, "Scale", "Licensing")
        user("scale.auditor", roles.AUDITOR, "Scale", "Auditor")
        self.architects = [
            user(f"scale.architect{i}", roles.SOLUTION_ARCHITECT, "Scale", f"Architect {i}")
            for i in range(1, ARCHITECTS + 1)
        ]
        self.regions = []
        for code, name, countries in REGIONS:
            region = Region.objects.filter(Q(code=code) | Q(name=name)).first()
            if region is None:
                region = Region(code=code, name=name)
                region._history_user, region._change_reason = self.user, REASON
                region.save()
            manager = user(f"scale.cm.{code}", roles.CHANNEL_MANAGER, "Scale", f"CM {name}")
            region.channel_managers.add(manager)
            region.manager = manager
            region.countries = countries.split()
            self.regions.append(region)
        self.stdout.write(f"  users and {len(self.regions)} regions ready")

    def seed_releases(self) -> None:
        for version, offset, stable in RELEASES:
            PlatformRelease.objects.get_or_create(
                version=version,
                defaults={"released_on": self.t + timedelta(days=offset), "is_stable": stable},
            )
        stable = list(PlatformRelease.objects.filter(is_stable=True).order_by("-released_on"))
        self.latest, self.older = stable[0], stable[1:] or stable

    # --- partners and what hangs on them ----------------------------------------------------

    def seed_partners(self, count: int, offset: int) -> list[PartnerPlan]:
        rng, t = self.rng, self.t
        names, weights = list(PROFILES), list(PROFILES.values())
        plans = []
        for i in range(count):
            region = self.regions[i % len(self.regions)]
            # The first partners take every profile once: small data sets have them all.
            profile = names[i] if i < len(names) else rng.choices(names, weights)[0]
            plan = PartnerPlan(
                index=offset + i + 1,
                profile=profile,
                region=region,
                country=rng.choice(region.countries),
            )
            plan.terms = self.plan_terms(plan.profile)
            plans.append(plan)

        objs = [self.partner(plan) for plan in plans]
        for plan, obj in zip(plans, self.insert(Partner, objs), strict=True):
            plan.pk = obj.pk

        contacts, terms, incidents = [], [], []
        for plan in plans:
            slug = f"p{plan.index:06d}.scale.example.com"
            contacts += [
                Contact(partner_id=plan.pk, role=role, name=f"{who} {plan.index:06d}", email=email)
                for role, who, email in (
                    ("financial", "Finance Office", f"finance@{slug}"),
                    ("technical", "Tech Lead", f"tech@{slug}"),
                )
            ]
            terms += [
                PartnershipTerm(
                    partner_id=plan.pk, **{k: v for k, v in term.items() if k != "current"}
                )
                for term in plan.terms
            ]
            if plan.profile == "open_incident":
                opened = t - timedelta(days=rng.randint(5, 200))
                incidents.append(self.incident(plan, opened, None))
            elif plan.profile != "prospective" and rng.random() < 0.08:
                opened = t - timedelta(days=rng.randint(60, 700))
                incidents.append(
                    self.incident(plan, opened, opened + timedelta(days=rng.randint(5, 50)))
                )
        self.insert(Contact, contacts)
        self.insert(PartnershipTerm, terms, "partnership terms")
        self.insert(ComplianceIncident, incidents, "compliance incidents")
        return plans

    def incident(self, plan: PartnerPlan, opened: date, resolved: date | None):
        return ComplianceIncident(
            partner_id=plan.pk,
            kind=self.rng.choice(INCIDENT_KINDS),
            opened_on=opened,
            resolved_on=resolved,
            notes="Found in a scale audit." if resolved is None else "Resolved after review.",
        )

    def partner(self, plan: PartnerPlan) -> Partner:
        rng, t, profile = self.rng, self.t, plan.profile
        sales = delivery = None
        if profile not in ("prospective", "not_authorized"):
            sales = t - timedelta(days=rng.randint(30, 1500)) if rng.random() < 0.8 else None
            if sales is None or rng.random() < 0.5:
                delivery = t - timedelta(days=rng.randint(30, 1500))
        elif profile == "not_authorized" and rng.random() < 0.5:
            sales = t + timedelta(days=rng.randint(30, 200))  # authorized later this year
        status = {"former": "former", "prospective": "prospective"}.get(profile, "active")
        return Partner(
            name=plan.name,
            status=status,
            country=plan.country,
            region_id=plan.region.pk,
            channel_manager_id=plan.region.manager.pk,
            sales_authorized_on=sales,
            delivery_authorized_on=delivery,
        )

    def plan_terms(self, profile: str) -> list[dict]:
        """Consecutive yearly terms, newest first; the one covering T is marked current."""
        rng, t = self.rng, self.t
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
        terms = []
        for start, end in spans:
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
            terms.append(term)
        return terms

    # --- licenses --------------------------------------------------------------------------

    def plan_licenses(self, partners: list[PartnerPlan], count: int) -> list[LicensePlan]:
        rng = self.rng
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
            partner = rng.choice(pool)
            if kind != LicenseKind.TL and state in LIVE:
                # One live cloud DL, one on-premises DL and one IL per partner (SPEC rules):
                # try a few partners, else the extra one is historical.
                slot = (kind, hosting)
                for _ in range(3):
                    if slot not in partner.live:
                        break
                    partner = rng.choice(pool)
                if slot in partner.live:
                    state = "cancelled" if rng.random() < 0.7 else "refused"
                else:
                    partner.live.add(slot)
            if partner.profile == "prospective" and kind != LicenseKind.TL:
                kind, hosting = LicenseKind.TL, Hosting.DEDICATED_CLOUD
            plans.append(LicensePlan(kind=kind, state=state, partner=partner, hosting=hosting))
        return plans

    def seed_opportunities(self, partners: list[PartnerPlan], licenses: list[LicensePlan]):
        """One opportunity per trial (approved, won for converted ones, some lost for
        refused or cancelled ones), and a few more per partner in every status."""
        rng = self.rng
        objs = []
        for plan in licenses:
            if plan.kind != LicenseKind.TL or plan.partner.profile == "prospective":
                continue
            status = "approved"
            if plan.state == "converted":
                status = "won"
            elif plan.state in ("refused", "cancelled") and rng.random() < 0.4:
                status = "lost"
            plan.opportunity = self.opportunity(plan.partner, status, len(objs))
            objs.append(plan.opportunity)
        extra = 0
        for partner in partners:
            if partner.profile != "prospective" and rng.random() < 0.5:
                status = OPPORTUNITY_STATUSES[extra % len(OPPORTUNITY_STATUSES)]  # each in turn
                objs.append(self.opportunity(partner, status, len(objs)))
                extra += 1
        self.insert(Opportunity, objs, "opportunities")

    def opportunity(self, partner: PartnerPlan, status: str, n: int) -> Opportunity:
        rng, t = self.rng, self.t
        registered = t - timedelta(days=rng.randint(40, 400))
        closed = None
        if status in ("won", "lost"):
            closed = min(t, registered + timedelta(days=rng.randint(20, 200)))
        return Opportunity(
            partner_id=partner.pk,
            prospect_name=f"{rng.choice(PROSPECTS)} Prospect {partner.index:06d}-{n}",
            prospect_country=partner.country,
            registered_on=registered,
            status=status,
            solution_architect=None if status == "registered" else rng.choice(self.architects),
            closed_on=closed,
        )

    def seed_licenses(self, plans: list[LicensePlan]) -> list[tuple]:
        """Infrastructures, environments and licenses, one batch of licenses at a time.
        Returns (infrastructure id, partner plan, registration id, live trial, license id,
        license state) of each infrastructure, for the IPP data and the extensions."""
        last = (
            Infrastructure.objects.filter(registration_id__startswith=REGISTRATION_PREFIX)
            .order_by("-registration_id")
            .values_list("registration_id", flat=True)
            .first()
        )
        self.infra_number = int(last.removeprefix(REGISTRATION_PREFIX)) if last else 0
        made = []
        total = len(plans)
        for start in range(0, total, BATCH):
            began = time.monotonic()
            chunk = [self.license(plan) for plan in plans[start : start + BATCH]]
            infras = [lic.infrastructure for lic in chunk if lic.infrastructure is not None]
            infras = self.bulk(Infrastructure, infras)
            environments = [env for infra in infras for env in self.environments(infra)]
            for i in range(0, len(environments), BATCH):
                self.bulk(Environment, environments[i : i + BATCH])
            chunk = self.bulk(License, chunk)
            rows = 2 * (len(chunk) + len(infras) + len(environments))
            self.progress("licenses (+infra, envs)", start + len(chunk), total, rows, began)
            for lic in chunk:
                if lic.infrastructure_id:
                    made.append(
                        (
                            lic.infrastructure_id,
                            lic._plan.partner,
                            lic.infrastructure.registration_id,
                            lic.policy_id == self.policies["TL"].pk and lic.state == "active",
                            lic.pk,
                            lic.state,
                        )
                    )
        self.seed_extensions(made)
        return made

    def license(self, plan: LicensePlan) -> License:
        rng, t, state, kind = self.rng, self.t, plan.state, plan.kind
        partner, policy = plan.partner, self.policies[kind]
        opportunity = plan.opportunity
        if kind == LicenseKind.TL:
            requester = opportunity.solution_architect if opportunity else self.user
        else:
            requester = partner.region.manager
        lic = License(
            policy=policy,
            partner_id=partner.pk,
            opportunity=opportunity,
            licensee_name=opportunity.prospect_name if opportunity else partner.name,
            hosting=plan.hosting,
            state=state,
            requested_by=requester,
        )
        lic._plan = plan
        if state == "requested":
            lic.requested_on = t - timedelta(days=rng.randint(0, 10))
            return lic
        if state == "refused":
            lic.requested_on = t - timedelta(days=rng.randint(1, 120))
            lic.decided_on = lic.requested_on + timedelta(days=rng.randint(0, 3))
            lic.state_reason = "Duplicate of an earlier request (scale data)"
            return lic
        provisioned = state in PROVISIONED and not (state == "cancelled" and rng.random() < 0.2)
        if provisioned:
            starts, ends, original = self.term_of(lic, plan)
            lic.requested_on = starts - timedelta(days=rng.randint(2, 10))
        else:
            lic.requested_on = t - timedelta(days=rng.randint(1, 60))
        lic.decided_on = lic.requested_on + timedelta(days=rng.randint(0, 2))
        lic.approved_by, lic.approved_at = self.user, stamp(lic.decided_on)
        lic.provisioning_due_on = lic.decided_on + timedelta(days=5)  # ~3 business days
        if state == "approved":
            # Mostly within the deadline (some reach it tomorrow), a tenth already late.
            late = rng.random() < 0.1
            days = rng.randint(6, 15) if late else rng.randint(0, 5)
            lic.decided_on = lic.requested_on = t - timedelta(days=days)
            lic.approved_at = stamp(lic.decided_on)
            lic.provisioning_due_on = lic.decided_on + timedelta(days=5)
            if lic.provisioning_due_on < t:  # flagged by the nightly run of an earlier day
                lic.provisioning_overdue_since = lic.provisioning_due_on + timedelta(days=1)
            return lic
        if not provisioned:  # cancelled before provisioning
            lic.cancelled_on = min(t, lic.decided_on + timedelta(days=rng.randint(1, 5)))
            lic.state_reason = "Withdrawn by the partner (scale data)"
            return lic
        lic.starts_on, lic.ends_on, lic.original_ends_on = starts, ends, original
        lic.provisioned_by, lic.provisioned_at = self.user, stamp(starts)
        lic.environment_names = policy.environments
        lic.limits = policy.limits()
        lic.activation_code = self.activation_code()
        lic.infrastructure = self.infrastructure(lic, plan)
        if not lic.infrastructure.is_cloud and lic.infrastructure.registration_id:
            lic.activation_code_used_at = stamp(lic.infrastructure.registered_on)
        if state == "expired":
            lic.expired_on = lic.ends_on + timedelta(days=1)
        elif state == "cancelled":
            lic.expired_on = lic.ends_on + timedelta(days=1)
            lic.cancelled_on = lic.expired_on + timedelta(days=policy.grace_days)
            lic.state_reason = f"grace period of {policy.grace_days} days over"
        elif state == "converted":
            lic.converted_on = min(t, lic.ends_on - timedelta(days=rng.randint(0, 10)))
            lic.converted_on = max(lic.converted_on, lic.starts_on)
            lic.conversion_validated_by = opportunity.solution_architect
        return lic

    def term_of(self, lic: License, plan: LicensePlan) -> tuple[date, date, date]:
        """(starts_on, ends_on, original_ends_on) of a provisioned license in its state."""
        rng, t, state = self.rng, self.t, plan.state
        if state == "expired":
            ends = t - timedelta(days=rng.randint(1, 30))  # expired_on within the grace period
            return ends - timedelta(days=rng.randint(30, 364)), ends, ends
        if state == "cancelled":
            ends = t - timedelta(days=rng.randint(31, 60))  # cancelled after 30 days of grace
            return ends - timedelta(days=rng.randint(30, 364)), ends, ends
        if plan.kind == LicenseKind.TL:
            if state == "converted":
                starts = t - timedelta(days=rng.randint(10, 120))
                return starts, starts + timedelta(days=30), starts + timedelta(days=30)
            starts = t - timedelta(days=rng.randint(0, 29))
            original = starts + timedelta(days=30)
            # Extended by its solution architect when the end lies further than 30 days.
            return starts, max(original, t + timedelta(days=rng.randint(0, 180))), original
        term = plan.partner.current
        ends = term["ends_on"] if term else t + timedelta(days=rng.randint(0, 364))
        starts = min(t, (term["starts_on"] if term else t) + timedelta(days=rng.randint(0, 30)))
        return starts, ends, ends

    def activation_code(self) -> str:
        # 80 random bits like the real ones: unique without a lookup.
        code = secrets.token_hex(8).upper()
        return "-".join(code[i : i + 4] for i in range(0, 16, 4))

    def infrastructure(self, lic: License, plan: LicensePlan) -> Infrastructure:
        rng = self.rng
        self.infra_number += 1
        n = self.infra_number
        cloud = lic.hosting in (Hosting.SHARED_CLOUD, Hosting.DEDICATED_CLOUD)
        infra = Infrastructure(
            name=f"SCALE {plan.kind} {n:07d} {lic.licensee_name}"[:200],
            owner_partner_id=plan.partner.pk,
            customer_name=lic.licensee_name if plan.opportunity else "",
            hosting=lic.hosting,
        )
        if cloud or rng.random() < 0.85:  # on-premises ones not yet registered: no id
            infra.registration_id = f"{REGISTRATION_PREFIX}{n:07d}"
            infra.registered_on = lic.starts_on + timedelta(days=0 if cloud else 2)
            behind = rng.random() < (0.15 if cloud else 0.4)
            infra.platform_release = rng.choice(self.older) if behind else self.latest
        if cloud:
            infra.lifetime_url = f"https://scale-{n:07d}-lifetime.{settings.CLOUD_DOMAIN}"
        return infra

    def environments(self, infra: Infrastructure) -> list[Environment]:
        kind = infra.name.split()[1]
        names = self.policies[kind].environment_list + (["LifeTime"] if infra.is_cloud else [])
        n = infra.registration_id.removeprefix(REGISTRATION_PREFIX).lower() or f"i{infra.pk}"
        return [
            Environment(
                infrastructure_id=infra.pk,
                name=name,
                endpoint_url=(
                    f"https://scale-{n}-{name.lower()}.{settings.CLOUD_DOMAIN}"
                    if infra.is_cloud
                    else ""
                ),
            )
            for name in names
        ]

    def seed_extensions(self, made: list[tuple]) -> None:
        rng, t = self.rng, self.t
        objs = []
        for _infra, partner, _registered, live_trial, license_id, state in made:
            if state == "expired" and rng.random() < 0.05:
                objs.append(
                    Extension(
                        license_id=license_id,
                        reason="legal_constraints",
                        requested_until=t + timedelta(days=rng.randint(10, 60)),
                        requested_by=partner.region.manager,
                        requested_on=t - timedelta(days=rng.randint(0, 5)),
                    )
                )
            elif live_trial and rng.random() < 0.03:
                architect = rng.choice(self.architects)
                objs.append(
                    Extension(
                        license_id=license_id,
                        reason="trial_sales_cycle",
                        evaluation="Second proof-of-concept phase agreed (scale data).",
                        requested_until=t + timedelta(days=rng.randint(10, 120)),
                        state="granted",
                        requested_by=architect,
                        requested_on=t - timedelta(days=rng.randint(1, 30)),
                        decided_by=architect,
                        decided_at=stamp(t - timedelta(days=1)),
                    )
                )
        self.insert(Extension, objs, "extensions")

    def seed_ipp(self, made: list[tuple]) -> None:
        """Applications on some registered infrastructures, a few deployment permissions
        to live trials, and a log of deployment checks."""
        rng = self.rng
        registered = [row for row in made if row[2]]
        registration_ids = {row[0]: row[2] for row in registered}
        trials = [row for row in made if row[2] and row[3]]
        apps = []
        for infra_id, _partner, *_ in registered:
            if rng.random() < 0.1:
                apps += [
                    Application(name=f"Scale App {k}", developed_in_id=infra_id)
                    for k in range(1, rng.randint(1, 3) + 1)
                ]
        apps = self.insert(Application, apps, "IPP applications")
        contacts = dict(
            Contact.objects.filter(
                role="technical", partner__name__startswith=f"{PREFIX} "
            ).values_list("partner_id", "pk")
        )
        owner = {row[0]: row[1] for row in registered}
        permissions, links = [], []
        for app in apps:
            if not trials or rng.random() > 0.2:
                continue
            target = rng.choice(trials)[0]
            if target == app.developed_in_id:
                continue
            partner = owner[app.developed_in_id]
            state = rng.choice(["requested", "granted", "granted", "refused", "revoked"])
            consented = state != "requested" or rng.random() < 0.5
            permission = DeploymentPermission(
                source_id=app.developed_in_id,
                target_id=target,
                requested_by=partner.region.manager,
                requested_on=self.t - timedelta(days=rng.randint(1, 90)),
                consent_by_id=contacts.get(partner.pk) if consented else None,
                consent_at=stamp(self.t - timedelta(days=1)) if consented else None,
                consent_recorded_by=partner.region.manager if consented else None,
                state=state,
                decided_by=self.user if state != "requested" else None,
                decided_at=stamp(self.t) if state != "requested" else None,
            )
            permissions.append(permission)
            links.append(app.pk)
        permissions = self.insert(DeploymentPermission, permissions, "deployment permissions")
        through = DeploymentPermission.applications.through
        through.objects.bulk_create(
            [
                through(deploymentpermission_id=p.pk, application_id=a)
                for p, a in zip(permissions, links, strict=True)
            ],
            batch_size=BATCH,
        )
        checks = []
        for app in apps:
            for _ in range(rng.randint(0, 3)):
                target = rng.choice(registered)[0]
                allowed = target == app.developed_in_id or rng.random() < 0.3
                checks.append(
                    DeploymentCheck(
                        application_id=app.pk,
                        application_key=str(app.key),
                        target_id=target,
                        target_registration_id=registration_ids[target],
                        allowed=allowed,
                        reason="scale data",
                        caller="api token (scale data)",
                        status_code=200,
                    )
                )
        self.insert(DeploymentCheck, checks, "deployment checks")

    # --- the due set -----------------------------------------------------------------------

    def make_due(self, day: date, count: int) -> None:
        """Exactly `count` active licenses due on `day` (ends_on < day), all ending on
        day - 1, all of which the nightly run for `day` expires."""
        from licensing.nightly import system_user

        before = day - timedelta(days=1)
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
        keep = {lic.pk for lic in due_now}
        changed = []
        for lic in due_now:
            if lic.ends_on != before:
                lic.ends_on = before
                lic._change_reason = f"{REASON}: due on {day}"
                changed.append(lic)
        moved = list(active.filter(ends_on__lt=day).exclude(pk__in=keep))
        for lic in moved:
            years = (day - lic.ends_on).days // 365 + 1
            lic.ends_on += timedelta(days=365 * years)
            lic._change_reason = f"{REASON}: not due on {day}"
        user = get_user_model().objects.filter(username="scale.licensing").first() or (
            system_user()
        )
        for objs in (changed, moved):
            bulk_update_with_history(
                objs, License, ["ends_on"], batch_size=BATCH, default_user=user
            )
        self.stdout.write(
            f"due on {day}: {count:,} active licenses end on {before} "
            f"({len(changed):,} changed, {len(moved):,} others moved past {day})"
        )

    # --- summary ---------------------------------------------------------------------------

    def summary(self, elapsed: float) -> None:
        by = License.objects.order_by()
        states = dict(by.values_list("state").annotate(n=Count("pk")).order_by("state"))
        kinds = dict(
            by.values_list("policy__kind").annotate(n=Count("pk")).order_by("policy__kind")
        )
        models = [
            Region,
            Partner,
            Contact,
            PartnershipTerm,
            ComplianceIncident,
            Opportunity,
            License,
            Infrastructure,
            Environment,
            Extension,
            Application,
            DeploymentPermission,
            DeploymentCheck,
        ]
        counts = ", ".join(f"{m._meta.verbose_name_plural}: {m.objects.count():,}" for m in models)
        history = sum(m.history.count() for m in models)
        self.stdout.write(
            self.style.SUCCESS(
                f"scale data ready in {elapsed:.1f} s: {counts}; history rows: {history:,}\n"
                f"  licenses by kind: {kinds}\n"
                f"  licenses by state: {states}\n"
                f"  countries: {Partner.objects.values('country').distinct().count()}"
            )
        )
