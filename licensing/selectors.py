"""Read questions that more than one place asks, answered once: who is around a license
(the people its mails go to), which infrastructures need a platform upgrade, and the latest
usage each license's infrastructure reported."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from partners.choices import ContactRole
from partners.models import Contact, Opportunity

from .choices import LicenseKind
from .models import (
    LIVE_INFRASTRUCTURE_STATES,
    Infrastructure,
    License,
    LicensePolicy,
    PlatformRelease,
    UsageReport,
)


def behind_latest_release(latest: PlatformRelease | None = None) -> QuerySet[Infrastructure]:
    """Infrastructures of live Demo and Internal licenses on a release older than the latest
    stable one (or `latest`): what needs an upgrade. The infrastructure list's filter, the
    daily upgrade report and the message on recording a new release all ask this."""
    latest = latest or PlatformRelease.latest_stable()
    if latest is None:
        return Infrastructure.objects.none()
    # The few release and policy ids are read first: with literal ids the planner reads
    # the older releases' infrastructures by their index and the live licenses from
    # `license_live_infrastructure` alone, instead of every license and a DISTINCT.
    older = PlatformRelease.objects.filter(released_on__lt=latest.released_on)
    policies = LicensePolicy.objects.filter(kind__in=[LicenseKind.DL, LicenseKind.IL])
    live = License.objects.filter(
        infrastructure=OuterRef("pk"),
        policy__in=list(policies.values_list("pk", flat=True)),
        state__in=LIVE_INFRASTRUCTURE_STATES,
    )
    return (
        Infrastructure.objects.filter(platform_release__in=list(older.values_list("pk", flat=True)))
        .filter(Exists(live))
        .order_by("pk")
    )


class _Around:
    """What `people_of` reads only when a mail asks for it, for every license of one call at
    once: the partners' contacts and the trials' solution architects (one query each, on
    first use). A mail to the channel manager alone (an incident) reads neither."""

    def __init__(self, partner_ids: set[int], opportunity_ids: set[int]):
        self.partner_ids, self.opportunity_ids = partner_ids, opportunity_ids

    @cached_property
    def contacts(self) -> dict[int, tuple[tuple[str, ...], str]]:
        """(contacts, financial then technical; the technical one), by partner id."""
        contacts, technical = defaultdict(list), {}
        for partner_id, role, email in (
            Contact.objects.filter(partner_id__any=self.partner_ids)
            .order_by("partner_id", "role")
            .values_list("partner_id", "role", "email")
        ):
            contacts[partner_id].append(email)
            if role == ContactRole.TECHNICAL:
                technical[partner_id] = email
        return {pk: (tuple(contacts[pk]), technical.get(pk, "")) for pk in self.partner_ids}

    @cached_property
    def architects(self) -> dict[int, tuple[int | None, str | None]]:
        """(solution architect's id, address), by opportunity id."""
        return {
            pk: (architect, email)
            for pk, architect, email in Opportunity.objects.filter(
                pk__any=self.opportunity_ids
            ).values_list("pk", "solution_architect_id", "solution_architect__email")
        }


@dataclass(frozen=True)
class People:
    """Who is around one license, as plain addresses ("" where there is none): what every
    mail about it is addressed from (`licensing.mails` says who gets which)."""

    license_id: int
    partner_id: int
    # The key its mails carry for the channel managers' scope (partners.region_keys).
    region_id: int | None
    kind: str
    hosting: str
    ends_on: date | None
    grace_days: int
    # Whoever asked for the license.
    requester: str
    channel_manager: str
    opportunity_id: int | None
    around: _Around = field(repr=False, compare=False)

    @property
    def contacts(self) -> tuple[str, ...]:
        """The partner's contacts, financial then technical."""
        return self.around.contacts[self.partner_id][0]

    @property
    def technical(self) -> str:
        return self.around.contacts[self.partner_id][1]

    @property
    def architect(self) -> str:
        """A trial's solution architect when its opportunity has one (even without an
        address: then nobody), else whoever asked for it; "" for a partner-program license."""
        if self.kind != LicenseKind.TL:
            return ""
        has_architect, email = self.around.architects.get(self.opportunity_id, (None, None))
        return (email if has_architect else self.requester) or ""

    @property
    def reminded(self) -> list[str]:
        """Reminders: both contacts, then the channel manager; a trial, its architect."""
        if self.kind == LicenseKind.TL:
            return unique([self.architect])
        return unique([*self.contacts, self.channel_manager])

    @property
    def follows_expiry(self) -> list[str]:
        """Expiry and cancellation: both contacts and the channel manager; a trial, its
        architect and the partner's technical contact."""
        if self.kind == LicenseKind.TL:
            return unique([self.architect, self.technical])
        return unique([*self.contacts, self.channel_manager])


def unique(emails) -> list[str]:
    """The addresses in order, without blanks or a second copy (ignoring case)."""
    seen, found = set(), []
    for email in emails:
        if email and email.lower() not in seen:
            seen.add(email.lower())
            found.append(email)
    return found


def reminder_recipients(lic: License) -> list[str]:
    """Who gets `lic`'s reminders (the mail preview asks; the night uses `recipients_of`)."""
    return people_of([lic.pk])[lic.pk].reminded


def recipients_of(ids: list[int]) -> list[tuple[int, int, int | None, date, list[str]]]:
    """(license id, partner id, region id, end, reminder recipients) of each license, by id."""
    return [
        (p.license_id, p.partner_id, p.region_id, p.ends_on, p.reminded)
        for p in people_of(ids).values()
    ]


def people_of(ids) -> dict[int, People]:
    """The `People` of each license, by id: one query of plain values (no model objects per
    license) whatever the number, and one more for the partners' contacts and one for the
    trials' architects the first time a mail asks for them (`_Around`). The nightly steps
    ask it once per batch, the services for one license."""
    licenses = list(
        License.objects.filter(pk__any=ids)
        .order_by("pk")
        .values_list(
            "pk",
            "partner_id",
            "policy__kind",
            "hosting",
            "ends_on",
            "policy__grace_days",
            "opportunity_id",
            "requested_by__email",
            "partner__channel_manager__email",
            "region_id",
        )
    )
    around = _Around(
        partner_ids={row[1] for row in licenses},
        opportunity_ids={row[6] for row in licenses if row[6] is not None},
    )
    return {
        pk: People(
            license_id=pk,
            partner_id=partner_id,
            region_id=region_id,
            kind=kind,
            hosting=hosting,
            ends_on=ends_on,
            grace_days=grace_days,
            requester=requester or "",
            channel_manager=manager or "",
            opportunity_id=opportunity,
            around=around,
        )
        for (
            pk,
            partner_id,
            kind,
            hosting,
            ends_on,
            grace_days,
            opportunity,
            requester,
            manager,
            region_id,
        ) in licenses
    }


def usage_in_window(*, since: date, until: date) -> QuerySet[UsageReport]:
    """The usage reports dated `since` to `until` (both included)."""
    return UsageReport.objects.filter(reported_on__gte=since, reported_on__lte=until)


def latest_in_window(*, since: date, until: date) -> QuerySet[UsageReport]:
    """Each infrastructure's latest report dated `since` to `until`: no later one in the
    window (one report per infrastructure and day, so never two)."""
    window = usage_in_window(since=since, until=until)
    later = window.filter(
        infrastructure=OuterRef("infrastructure_id"), reported_on__gt=OuterRef("reported_on")
    )
    return window.exclude(Exists(later))


def latest_usage(
    licenses: QuerySet[License], *, since: date, until: date
) -> dict[int, UsageReport]:
    """The latest usage report of each license's infrastructure dated `since` to `until`,
    by license id; a license without one (no infrastructure, nothing reported in the
    window) is absent. Two queries whatever the number of licenses: the admin, the
    dashboard and the nightly usage check ask it the same way."""
    latest = (
        usage_in_window(since=since, until=until)
        .filter(infrastructure=OuterRef("infrastructure_id"))
        .order_by("-reported_on", "-pk")
        .values("pk")[:1]
    )
    pairs = dict(
        licenses.filter(infrastructure__isnull=False)
        .annotate(latest_report=Subquery(latest))
        .filter(latest_report__isnull=False)
        .values_list("pk", "latest_report")
    )
    reports = UsageReport.objects.in_bulk(set(pairs.values()))
    return {license_id: reports[report_id] for license_id, report_id in pairs.items()}


def usage_unreported(licenses: QuerySet[License], *, since: date, until: date) -> QuerySet[License]:
    """Of `licenses`, those on a registered infrastructure with no usage report dated
    `since` to `until` (SPEC: "usage unreported", listed, no incident)."""
    reported = usage_in_window(since=since, until=until).filter(
        infrastructure=OuterRef("infrastructure_id")
    )
    return (
        licenses.filter(infrastructure__isnull=False)
        .exclude(infrastructure__registration_id="")
        .exclude(Exists(reported))
    )
