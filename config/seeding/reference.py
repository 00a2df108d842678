"""What the scale partners and licenses point to: the users, the regions and the platform
releases. Existing ones are reused (the demo's regions, by code or name), so seed_scale
runs on a demo database too."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db.models import Q

from licensing.models import PlatformRelease
from partners import roles
from partners.models import Region

from .context import REASON, Seeding

PASSWORD = "licensing-demo"  # noqa: S105 - the documented development password (README)

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


def seed_users_and_regions(run: Seeding) -> None:
    """The scale users (all staff, with the demo password) and the regions, each with its
    own channel manager; sets the run's author, architects and regions."""
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

    run.user = user("scale.licensing", roles.LICENSING_TEAM, "Scale", "Licensing")
    user("scale.auditor", roles.AUDITOR, "Scale", "Auditor")
    run.architects = [
        user(f"scale.architect{i}", roles.SOLUTION_ARCHITECT, "Scale", f"Architect {i}")
        for i in range(1, ARCHITECTS + 1)
    ]
    run.regions = []
    for code, name, countries in REGIONS:
        region = Region.objects.filter(Q(code=code) | Q(name=name)).first()
        if region is None:
            region = Region(code=code, name=name)
            region._history_user, region._change_reason = run.user, REASON
            region.save()
        manager = user(f"scale.cm.{code}", roles.CHANNEL_MANAGER, "Scale", f"CM {name}")
        region.channel_managers.add(manager)
        region.manager = manager
        region.countries = countries.split()
        run.regions.append(region)
    run.out.write(f"  users and {len(run.regions)} regions ready")


def seed_releases(run: Seeding) -> None:
    """The demo's stable releases; infrastructures run the latest or, some, an older one."""
    for version, offset, stable in RELEASES:
        PlatformRelease.objects.get_or_create(
            version=version,
            defaults={"released_on": run.t + timedelta(days=offset), "is_stable": stable},
        )
    stable = list(PlatformRelease.objects.filter(is_stable=True).order_by("-released_on"))
    run.latest, run.older = stable[0], stable[1:] or stable
