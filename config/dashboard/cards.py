"""The admin index as a daily tool: what waits, for whom, each number a link to its list.

Every number is counted on the queryset the changelist it links to shows this user (the
model admin's own `get_queryset`, so the region scope of channel managers and the solution
architect's assignment apply), narrowed by the same filter the link's query string applies:
a number on the dashboard is always the row count of the list it opens. A card is shown
only to users who may view its model. The number of queries does not grow with the data:
counts are COUNT queries, and the few rows listed are fetched with what they display.
The figures are cached until the data they count changes (`dashboard_cache`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Count, IntegerField, Model, Q, QuerySet, Value, Window
from django.urls import reverse
from django.utils import timezone

from ipp.choices import PermissionState
from ipp.models import DeploymentPermission
from licensing import tallies, usage_levels
from licensing.calendar import business_days_between
from licensing.choices import ExtensionState, LicenseState
from licensing.models import (
    Extension,
    License,
    NightlyRun,
    Notification,
    awaiting_conversion_q,
    provisioning_overdue_q,
)
from partners import dashboard_cache
from partners.admin_tools import count_of
from partners.models import Partner
from partners.scoping import is_licensing_team
from partners.services import standing, today

from . import charts, usage

EXPIRY_WINDOWS = (30, 60, 90)
LISTED = 5  # rows listed under a card: the top of the list it links to


@dataclass(frozen=True)
class Figure:
    """One number and the changelist (with its query string) whose rows it counts."""

    count: int
    url: str
    label: str = ""


@dataclass(frozen=True)
class Item:
    """A row listed under a card, e.g. an overdue license and how late it is."""

    label: str
    url: str
    detail: str


@dataclass(frozen=True)
class Card:
    key: str
    title: str
    figures: list[Figure]
    help: str = ""
    items: list[Item] = field(default_factory=list)
    # "attention" when the count asks for work, "alarm" for work already late.
    tone: str = "attention"

    @property
    def needs_attention(self) -> bool:
        return any(figure.count for figure in self.figures)


def visible(request, model: type[Model]) -> QuerySet | None:
    """The rows of `model` the user's changelist shows, or None without view permission."""
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return None
    if not model_admin.has_view_or_change_permission(request):
        return None
    # The admin's ordering is for the list; counts and groupings need none.
    return model_admin.get_queryset(request).order_by()


def changelist_url(model: type[Model], **params) -> str:
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def ending_between(start: date, end: date) -> dict[str, str]:
    """Changelist parameters of active licenses whose last day is in [start, end]."""
    return {
        "state__exact": LicenseState.ACTIVE,
        # The date-range filter's own parameters, so its sidebar shows the dates.
        "ends_on__range__gte": start.isoformat(),
        "ends_on__range__lte": end.isoformat(),
    }


def bar_url(kind: str, start: date, end: date) -> str:
    """The licenses behind one segment of the expiry chart."""
    return changelist_url(License, **ending_between(start, end), policy__kind__exact=kind)


def overdue_item(lic: License, day: date) -> Item:
    # Business days as the deadline counts them: the partner country's holidays skipped.
    late = business_days_between(lic.provisioning_due_on, day, lic.partner.country.code)
    return Item(
        str(lic),
        reverse("admin:licensing_license_change", args=[lic.pk]),
        f"{count_of(late, 'business day')} late · due {lic.provisioning_due_on:%Y-%m-%d}",
    )


def license_counts(
    licenses: QuerySet, day: date, by_day: dict, kept: KeptCounts | None
) -> dict[str, int]:
    """Every license figure of the dashboard, with the same conditions as the changelist
    filter its link applies. The queues are one query of two counts side by side (UNION
    ALL), each planned on its own index: the requests and approvals by state, and the
    active trials whose deal is won from the active licenses' index alone (an OR of both
    read the table; COUNT(*), not COUNT(id): the id is not in that index), or from the
    kept counts (`licensing.tallies`) for a user who sees whole regions. The expiry
    windows are sums of the chart's day counts (`charts.endings_by_day`)."""
    zero = Value(0, output_field=IntegerField())
    queues = (
        licenses.filter(state__in=[LicenseState.REQUESTED, LicenseState.APPROVED])
        .annotate(part=Value(1))  # a constant to group by: one row of counts
        .values("part")
        .annotate(
            # Of the state (never NULL), not of the id: the state and deadline indexes
            # (license_state_due, license_region_state for a channel manager) answer alone.
            requested=Count("state", filter=Q(state=LicenseState.REQUESTED)),
            overdue=Count("state", filter=provisioning_overdue_q(day)),
            awaiting=zero,
        )
        .values_list("requested", "overdue", "awaiting")
    )
    awaiting = (
        licenses.filter(awaiting_conversion_q())
        .annotate(part=Value(2))
        .values("part")
        .annotate(requested=zero, overdue=zero, awaiting=Count("*"))
        .values_list("requested", "overdue", "awaiting")
    )
    if kept is None:
        rows = list(queues.order_by().union(awaiting.order_by(), all=True))
    else:
        rows = [*queues.order_by(), (0, 0, kept().awaiting)]
    counts = {
        name: sum(row[i] for row in rows)
        for i, name in enumerate(["requested", "overdue", "awaiting"])
    }
    for n in EXPIRY_WINDOWS:
        last = day + timedelta(days=n)
        counts[f"within_{n}"] = sum(
            count for (ends_on, _), count in by_day.items() if day <= ends_on <= last
        )
    return counts


def license_cards(
    licenses: QuerySet, day: date, by_day: dict, kept: KeptCounts | None
) -> list[Card]:
    counts = license_counts(licenses, day, by_day, kept)
    cards = [
        Card(
            "license-requests",
            "License requests waiting",
            [
                Figure(
                    counts["requested"],
                    changelist_url(License, state__exact=LicenseState.REQUESTED),
                )
            ],
            help="Requested, waiting for the licensing team's approval or refusal.",
        )
    ]

    top = (
        licenses.provisioning_overdue(day)
        .select_related("policy", "partner")
        .order_by("provisioning_due_on", "pk")
    )
    cards.append(
        Card(
            "provisioning-overdue",
            "Provisioning overdue",
            [Figure(counts["overdue"], changelist_url(License, provisioning="overdue"))],
            help="Approved, not provisioned by the deadline (the policy's business days).",
            items=[overdue_item(lic, day) for lic in top[:LISTED]],
            tone="alarm",
        )
    )
    cards.append(
        Card(
            "expiring",
            "Active licenses ending within",
            [
                Figure(
                    counts[f"within_{n}"],
                    changelist_url(License, **ending_between(day, day + timedelta(days=n))),
                    f"{n} days",
                )
                for n in EXPIRY_WINDOWS
            ],
            help="Renewals or expirations due: Demo and Internal licenses renew when the "
            "partner is in good standing, trials expire.",
            tone="info",
        )
    )
    cards.append(
        Card(
            "trials-awaiting-conversion",
            "Trials awaiting conversion",
            [Figure(counts["awaiting"], changelist_url(License, conversion="awaiting"))],
            help="Deal won: the solution architect's technical validation is due.",
        )
    )
    return cards


def partner_card(partners: QuerySet, day: date, kept: KeptCounts | None) -> Card:
    # The standing kept on the row: the partial index of the partners not in good standing
    # (`partner_not_good`) gives the first rows in name order.
    failing = partners.kept_in_good_standing(False).with_standing_data().order_by("name", "pk")
    if kept is None:
        # The first rows and, on each, the count of all of them (a window over the whole
        # match, computed before the LIMIT): one query for the figure and the list.
        listed = list(failing.annotate(failing_count=Window(Count("*")))[:LISTED])
        count = listed[0].failing_count if listed else 0
    else:
        # Counted by the database as the standing is kept (`licensing.tallies`).
        listed = list(failing[:LISTED])
        count = kept().not_good
    url = changelist_url(Partner, good_standing="no")
    items = [
        Item(
            partner.name,
            reverse("admin:partners_partner_change", args=[partner.pk]),
            "; ".join(standing(partner, on=day).reasons),
        )
        for partner in listed
    ]
    if count > len(listed):
        # The list is the top of the changelist: say how many it leaves out, and link them.
        items.append(Item(f"and {count - len(listed)} more", url, ""))
    return Card(
        "partners-not-in-good-standing",
        "Partners not in good standing",
        [Figure(count, url)],
        help="Their licenses will not renew and they may not get an Internal license.",
        items=items,
    )


def request_counts(querysets: dict[str, QuerySet]) -> dict[str, int]:
    """The row count of each queryset, all in one query (UNION ALL of one count each)."""
    parts = [
        queryset.order_by()
        .annotate(part=Value(name))
        .values("part")
        .annotate(n=Count("*"))
        .values_list("part", "n")
        for name, queryset in querysets.items()
    ]
    if not parts:
        return {}
    counts = dict(parts[0].union(*parts[1:], all=True)) if len(parts) > 1 else dict(parts[0])
    return {name: counts.get(name, 0) for name in querysets}


def usage_cards(licenses: QuerySet, day: date, kept: KeptCounts | None) -> list[Card]:
    """Licenses over a limit, near one, and unreported (see `config.dashboard.usage`)."""
    counts = usage.usage_counts(licenses, day, kept)
    return [
        Card(
            card.key,
            card.title,
            [Figure(counts[card.filter], changelist_url(License, usage=card.filter))],
            help=card.help,
            tone=card.tone,
        )
        for card in usage.CARDS
    ]


def request_cards(extensions: QuerySet | None, permissions: QuerySet | None) -> list[Card]:
    """The extension and IPP permission requests waiting, for those who may see each."""
    waiting = {}
    if extensions is not None:
        waiting["extensions"] = extensions.filter(state=ExtensionState.REQUESTED)
    if permissions is not None:
        waiting["permissions"] = permissions.filter(state=PermissionState.REQUESTED)
    counts = request_counts(waiting)
    cards = []
    if "extensions" in counts:
        cards.append(
            Card(
                "extension-requests",
                "Extension requests waiting",
                [
                    Figure(
                        counts["extensions"],
                        changelist_url(Extension, state__exact=ExtensionState.REQUESTED),
                    )
                ],
                help="Demo and Internal license extensions waiting for the licensing team.",
            )
        )
    if "permissions" in counts:
        cards.append(
            Card(
                "ipp-permission-requests",
                "IPP permission requests waiting",
                [
                    Figure(
                        counts["permissions"],
                        changelist_url(
                            DeploymentPermission, state__exact=PermissionState.REQUESTED
                        ),
                    )
                ],
                help="Deployment permissions asked for, not yet granted or refused.",
            )
        )
    return cards


# Pending longer than this, a mail needs a look: delivery runs every few minutes.
LONG_PENDING = timedelta(hours=1)


def mail_card(notifications: QuerySet) -> Card:
    """Mail the outbox could not send: failed for good, or pending for over an hour.
    Counted on every visit (the outbox changes by the minute), from its partial indexes."""
    since = timezone.now() - LONG_PENDING
    counts = request_counts(
        {
            "failed": notifications.filter(sent_at__isnull=True, failed_at__isnull=False),
            "pending": notifications.filter(
                sent_at__isnull=True, failed_at__isnull=True, created_at__lt=since
            ),
        }
    )
    return Card(
        "mail",
        "Mail not delivered",
        [
            Figure(counts["failed"], changelist_url(Notification, delivery="failed"), "failed"),
            Figure(
                counts["pending"],
                changelist_url(Notification, delivery="pending", created_at__lt=since.isoformat()),
                "pending over an hour",
            ),
        ],
        help="Failed mail can be sent again from the list (action 'Send again').",
        tone="alarm",
    )


def license_section(
    licenses: QuerySet, day: date, kept: KeptCounts | None
) -> tuple[list[Card], str]:
    # Active licenses by last day over the chart's year, read once for the chart and the
    # expiry windows of the cards: from the kept counts when the user sees whole regions.
    if kept is None:
        by_day = charts.endings_by_day(licenses, *charts.chart_span(day))
    else:
        by_day = kept().endings
    cards = license_cards(licenses, day, by_day, kept)
    return cards, charts.expiry_chart(licenses, start=day, link=bar_url, by_day=by_day)


# The kept counts of the user's licenses, read (one query) by the first section that asks.
KeptCounts = Callable[[], tallies.Kept]


def kept_counts(user, day: date) -> KeptCounts | None:
    """What `licensing.tallies` keeps of the user's licenses for `day`, read once when a
    section first asks; None when it cannot say (an architect's rows, SQLite): the sections
    count the licenses."""
    regions = tallies.by_regions(user)
    if regions is None:
        return None
    start, end = charts.chart_span(day)
    since = usage_levels.unreported_since(day)
    return functools.cache(lambda: tallies.read(regions, start=start, end=end, since=since))


def dashboard(request) -> dict:
    """Cards, the expiry chart and the last nightly run, as this user may see them.

    A card is shown when the user may view its model; its figures come from the cache
    while the data they count is unchanged (`dashboard_cache`).
    """
    day = today()
    user = request.user
    version = dashboard_cache.data_version()
    cards: list[Card] = []
    chart = None

    def section(name, compute):
        return dashboard_cache.cached(version, user, day, name, compute)

    kept = kept_counts(user, day)
    licenses = visible(request, License)
    if licenses is not None:
        license_cards_, chart = section("licenses", lambda: license_section(licenses, day, kept))
        cards += license_cards_
        cards += section("usage", lambda: usage_cards(licenses, day, kept))
    extensions = visible(request, Extension)
    permissions = visible(request, DeploymentPermission)
    if extensions is not None or permissions is not None:
        # Which of the two the user may see is part of the key.
        name = f"requests-{extensions is not None:d}{permissions is not None:d}"
        cards += section(name, lambda: request_cards(extensions, permissions))
    partners = visible(request, Partner)
    if partners is not None:
        cards.append(section("partners", lambda: partner_card(partners, day, kept)))
    notifications = visible(request, Notification)
    if notifications is not None and is_licensing_team(user):
        cards.append(mail_card(notifications))

    nightly = None
    runs = visible(request, NightlyRun)
    if runs is not None:
        last = runs.order_by("-started_at", "-pk").first()
        nightly = {
            "run": last,
            "url": changelist_url(NightlyRun),
            "done": {k.replace("_", " "): v for k, v in (last.counts if last else {}).items() if v},
        }

    return {"today": day, "cards": cards, "chart": chart, "nightly": nightly}
