"""The nightly usage check: each active license's latest usage report against its limits.

For the run of day D, every active license on an infrastructure is judged on that
infrastructure's latest report dated D−7 to D−1 (a report dated D is judged by the next
run; an older one by nobody: the dashboard lists the license as "usage unreported"). What
the report shows (`findings`, a pure function) opens compliance incidents, which take the
partner out of good standing until the licensing team resolves them:
- `over_limit`: application objects, disk, internal users or (a trial) external users over
  the license's limits, one incident naming every figure over;
- `external_access`: a Demo or Internal license with any external user (for internal use
  only), instead of an over-limit;
- `users_outside_country`: a Demo or Internal license with internal users in a country
  other than the partner's.
One incident per license and kind while one is unresolved, and never a second one from the
same report: a report the licensing team has already judged (resolved) does not reopen it.
The channel manager and the licensing team's mailbox are told once per incident.

Batched like the other steps: one query reads every license with its latest report, and
the incidents found are written in batches of `INCIDENT_BATCH`, a fixed number of queries
each whatever its size.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import get_language
from django_countries import countries

from partners import bulk_sql, dashboard_cache
from partners.choices import IncidentKind
from partners.models import ComplianceIncident
from partners.services import refresh_standing

from .. import mails, selectors
from ..choices import LicenseKind, LicenseState
from ..models import License
from ..usage_levels import MEASURES, REPORT, CountsOutside, caps, over_q
from .bulk import Context

# The days before the run whose reports count: D−7 to D−1.
WINDOW_DAYS = 7
PARTNER_PROGRAM = (LicenseKind.DL, LicenseKind.IL)
USAGE_KINDS = (
    IncidentKind.OVER_LIMIT,
    IncidentKind.EXTERNAL_ACCESS,
    IncidentKind.USERS_OUTSIDE_COUNTRY,
)
# Incidents written per transaction. What the reports show is in memory already (one query);
# a batch writes its incidents, their history, their partners' standing and their mails in
# a fixed number of statements, some of which read a whole table or index whatever the
# batch's size: 2,715 incidents in one batch took 5 % less than in two of `bulk.BATCH` (2,000).
INCIDENT_BATCH = 5000
# The run's counts: the total, and one per kind.
OPENED = "usage_incidents_opened"
COUNT_OF = {kind: f"usage_{kind}" for kind in USAGE_KINDS}
MAILS = "incident_mails"
ACTIONS = (OPENED, *COUNT_OF.values(), MAILS)

OPENED_REASON = "opened by the nightly usage check"


def number(value) -> str:
    """2650 → "2,650"; Decimal("7.80") → "7.8"; Decimal("7.00") → "7"."""
    if isinstance(value, Decimal | float):
        value = Decimal(str(value)).normalize()
        return format(value, ",f")
    return f"{value:,}"


@lru_cache(maxsize=512)
def _country_name(code: str, language: str | None) -> str:
    """The country's name in `language` (the code itself for an unknown one): looked up once
    per night, not once per report (a lookup walks the translated names)."""
    return str(countries.name(code) or code)


def findings(*, kind: str, limits: dict, country: str, report) -> dict[str, str]:
    """What `report` shows against a license of `kind` with `limits`, for a partner
    registered in `country`: the notes of each incident kind it opens, by kind (empty:
    nothing wrong). Reads nothing, writes nothing."""
    partner_program = kind in PARTNER_PROGRAM
    of_report = f"(report of {report.reported_on.isoformat()})"
    found = {}
    over = []
    for measure in MEASURES:
        if partner_program and measure.field == "external_users":
            continue  # any external user on a partner license is external access instead
        limit, value = limits.get(measure.limit), getattr(report, measure.field)
        if limit is None:
            continue
        if type(limit) is not int:  # 7.3 as written, not as the binary float 7.29999…
            limit = Decimal(str(limit))
        if value > limit:
            unit = f" {measure.unit}" if measure.unit else ""
            over.append(
                f"{measure.words} {number(value)}{unit} over the limit of {number(limit)}{unit}"
            )
    if over:
        text = "; ".join(over)
        found[IncidentKind.OVER_LIMIT] = f"{text[0].upper()}{text[1:]} {of_report}"
    if partner_program and report.external_users > 0:
        found[IncidentKind.EXTERNAL_ACCESS] = (
            f"External users {number(report.external_users)} on a license for internal use "
            f"only {of_report}"
        )
    if partner_program:
        outside = {
            code: count
            for code, count in sorted((report.internal_users_by_country or {}).items())
            if code != country and count > 0
        }
        if outside:
            listed = ", ".join(f"{code} {number(count)}" for code, count in outside.items())
            found[IncidentKind.USERS_OUTSIDE_COUNTRY] = (
                f"Internal users outside {_country_name(country, get_language())} ({country}): "
                f"{listed} {of_report}"
            )
    return found


# What `findings` reads of a report, read with the license in one query.
REPORT_FIELDS = (
    "id",
    "reported_on",
    "application_objects",
    "disk_gb",
    "internal_users",
    "external_users",
    "internal_users_by_country",
)
# A report's figures as `findings` reads them (attributes), made from a row in one call.
_Figures = namedtuple("_Figures", REPORT_FIELDS)


def _suspect() -> Q:
    """In SQL, the reports `findings` may find something in: a figure over its limit, an
    external user or a user outside the partner's country on a partner license. A wider
    net than `findings` (external users over a limit on a DL or IL, say), never a narrower
    one: `findings` judges what it catches, and most reports, within every limit, never
    reach Python."""
    partner_program = Q(policy__kind__in=PARTNER_PROGRAM) & (
        Q(**{f"{REPORT}__external_users__gt": 0})
        | Q(CountsOutside(F(f"{REPORT}__internal_users_by_country"), F("partner__country")))
    )
    return over_q() | partner_program


def _found(ctx: Context) -> list[bulk_sql.Values]:
    """The incidents the reports show, unsaved, by license: every active license whose
    infrastructure reported in the window, judged on its latest report. One query of plain
    values (license, policy, partner's country and the report's figures side by side) of
    the `_suspect` reports only, and the incidents as plain values of their fields: a
    model instance per report, or per incident, took longer than the query."""
    latest = selectors.latest_in_window(
        since=ctx.day - timedelta(days=WINDOW_DAYS), until=ctx.day - timedelta(days=1)
    )
    rows = (
        ctx.mine(License.objects.filter(state=LicenseState.ACTIVE))
        .alias(**caps())
        # One filter(): the conditions read the same report row as the join.
        .filter(Q(**{f"{REPORT}__in": latest}) & _suspect())
        .order_by("pk")
        .values_list(
            "pk",
            "partner_id",
            "region_id",
            "policy__kind",
            "limits",
            "partner__country",
            *(f"infrastructure__usage_reports__{name}" for name in REPORT_FIELDS),
        )
    )
    found = []
    for pk, partner_id, region_id, kind, limits, country, *figures in rows:
        report = _Figures._make(figures)
        shown = findings(kind=kind, limits=limits or {}, country=str(country), report=report)
        found.extend(
            bulk_sql.Values(
                partner_id=partner_id,
                region_id=region_id,
                license_id=pk,
                kind=incident_kind,
                opened_on=ctx.day,
                notes=notes,
                usage_report_id=report.id,
            )
            for incident_kind, notes in shown.items()
        )
    return found


def check_usage(ctx: Context) -> None:
    found = _found(ctx)
    for start in range(0, len(found), INCIDENT_BATCH):
        with transaction.atomic():
            _open(ctx, found[start : start + INCIDENT_BATCH])


def _open(ctx: Context, found: list[bulk_sql.Values]) -> None:
    """1. Leave out what is already open (one query): an incident of the kind unresolved
       on the day, or one opened from the very report judged now (resolved since).
    2. Insert the rest with their history, then their mails."""
    blocking = set(
        ComplianceIncident.objects.filter(
            license_id__any={incident.license_id for incident in found}, kind__in=USAGE_KINDS
        )
        .filter(
            Q(resolved_on__isnull=True)
            | Q(resolved_on__gt=ctx.day)
            | Q(usage_report_id__any={incident.usage_report_id for incident in found})
        )
        .values_list("license_id", "kind")
    )
    opened = [i for i in found if (i.license_id, i.kind) not in blocking]
    if not opened:
        return
    ctx.insert(ComplianceIncident, opened, key=("license_id", "kind"), reason=OPENED_REASON)
    # Bulk inserts send no signals: the dashboard counts again once this commits, and the
    # partners' kept standing is refreshed here, in the incidents' transaction.
    transaction.on_commit(dashboard_cache.data_changed)
    refresh_standing({incident.partner_id for incident in opened}, on=ctx.day)
    _tell(ctx, opened)
    ctx.counts[OPENED] += len(opened)
    for incident in opened:
        ctx.counts[COUNT_OF[incident.kind]] += 1


def _tell(ctx: Context, incidents: list[bulk_sql.Values]) -> None:
    people = selectors.people_of({incident.license_id for incident in incidents})
    told = [
        mails.incident_opened(
            people[incident.license_id],
            incident_id=incident.pk,
            kind=IncidentKind(incident.kind).label,
            opened_on=incident.opened_on,
            notes=incident.notes,
            team_mailbox=settings.LICENSING_TEAM_EMAIL,
        )
        for incident in incidents
    ]
    ctx.counts[MAILS] += ctx.queue_mail(mails.rows(*told))
