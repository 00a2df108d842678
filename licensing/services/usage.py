"""What an infrastructure reports about its use: one report per infrastructure and day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_countries.data import COUNTRIES

from ..models import Infrastructure, UsageReport
from .common import today

__all__ = [
    "COUNTRIES_OVER_TOTAL",
    "DATE_IN_FUTURE",
    "DATE_TOO_OLD",
    "MAX_COUNT",
    "MAX_DISK_GB",
    "NOT_A_COUNT",
    "NOT_A_DATE",
    "NOT_A_DISK_SIZE",
    "NOT_COUNTRIES",
    "REPORT_WINDOW_DAYS",
    "UNKNOWN_COUNTRY",
    "USAGE_FIGURES",
    "record_usage",
    "validate_usage",
]

# A report may come late (a platform offline for a while), but not from another month.
REPORT_WINDOW_DAYS = 30
# The columns' bounds: PositiveIntegerField, DecimalField(10, 2).
MAX_COUNT = 2_147_483_647
MAX_DISK_GB = Decimal("99999999.99")
USAGE_FIGURES = ("application_objects", "internal_users", "external_users")

NOT_A_COUNT = "A whole number from 0 to {max:,} is expected."
NOT_A_DISK_SIZE = "A number of GB from 0 to {max:,} is expected, with at most 2 decimals."
NOT_A_DATE = "A date (YYYY-MM-DD) is expected."
DATE_IN_FUTURE = "The report's day {day} is after today ({on})."
DATE_TOO_OLD = "The report's day {day} is more than {days} days before today ({on})."
NOT_COUNTRIES = (
    'An object of ISO 3166 country codes and user counts is expected, e.g. {{"FR": 12}}.'
)
UNKNOWN_COUNTRY = "{code!r} is not an ISO 3166 alpha-2 country code."
COUNTRIES_OVER_TOTAL = (
    "The users by country add up to {total:,}, more than the {internal:,} internal users."
)

REPLACED = "replaced by a second report for the same day"


def _count(value) -> int | None:
    """A non-negative whole number within the column, or None. A boolean is no number,
    whatever Python thinks; 3.0 from a JSON encoder is 3."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return value


def _disk(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return None
    try:
        disk = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not disk.is_finite() or not 0 <= disk <= MAX_DISK_GB:
        return None
    if disk != disk.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
        return None
    return disk.quantize(Decimal("0.01"))


def _day(value) -> date | None:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            return None
    # A datetime is a date too in Python, but a report is for a day.
    if not isinstance(value, date) or hasattr(value, "hour"):
        return None
    return value


def _countries(value, errors: dict) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["internal_users_by_country"] = [NOT_COUNTRIES]
        return {}
    found, problems = {}, []
    for code, count in value.items():
        upper = code.strip().upper() if isinstance(code, str) else None
        if upper not in COUNTRIES:
            problems.append(UNKNOWN_COUNTRY.format(code=str(code)[:10]))
        elif _count(count) is None:
            problems.append(f"{upper}: " + NOT_A_COUNT.format(max=MAX_COUNT))
        else:
            found[upper] = found.get(upper, 0) + count
    if problems:
        errors["internal_users_by_country"] = problems
    return found


def validate_usage(
    *,
    reported_on,
    application_objects,
    disk_gb,
    internal_users,
    external_users,
    internal_users_by_country=None,
    on: date | None = None,
) -> dict:
    """Every check of record_usage, without writing: the cleaned figures, or a
    ValidationError keyed by field naming each problem."""
    on = on or today()
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    for name, value in (
        ("application_objects", application_objects),
        ("internal_users", internal_users),
        ("external_users", external_users),
    ):
        cleaned[name] = _count(value)
        if cleaned[name] is None:
            errors[name] = [NOT_A_COUNT.format(max=MAX_COUNT)]
    cleaned["disk_gb"] = _disk(disk_gb)
    if cleaned["disk_gb"] is None:
        errors["disk_gb"] = [NOT_A_DISK_SIZE.format(max=MAX_DISK_GB)]
    day = _day(reported_on)
    if day is None:
        errors["reported_on"] = [NOT_A_DATE]
    elif day > on:
        errors["reported_on"] = [DATE_IN_FUTURE.format(day=day, on=on)]
    elif day < on - timedelta(days=REPORT_WINDOW_DAYS):
        errors["reported_on"] = [DATE_TOO_OLD.format(day=day, days=REPORT_WINDOW_DAYS, on=on)]
    cleaned["reported_on"] = day
    countries = _countries(internal_users_by_country, errors)
    total = sum(countries.values())
    if cleaned["internal_users"] is not None and total > cleaned["internal_users"]:
        errors.setdefault("internal_users_by_country", []).append(
            COUNTRIES_OVER_TOTAL.format(total=total, internal=cleaned["internal_users"])
        )
    cleaned["internal_users_by_country"] = countries
    if errors:
        raise ValidationError(errors)
    return cleaned


def record_usage(
    *,
    infrastructure: Infrastructure,
    reported_on,
    application_objects,
    disk_gb,
    internal_users,
    external_users,
    internal_users_by_country=None,
    on: date | None = None,
) -> UsageReport:
    """Record one day's use of an infrastructure, as its platform reported it.

    1. Check every figure (validate_usage): refused with the fields named, nothing written.
    2. Lock the infrastructure row: two reports of one day sent at once wait for each
       other, so the second finds the first and replaces it instead of failing on the
       one-per-day constraint.
    3. A first report of the day is created; a second replaces the figures of the first
       (an update, so the history keeps both versions).
    """
    figures = validate_usage(
        reported_on=reported_on,
        application_objects=application_objects,
        disk_gb=disk_gb,
        internal_users=internal_users,
        external_users=external_users,
        internal_users_by_country=internal_users_by_country,
        on=on,
    )
    with transaction.atomic():
        Infrastructure.objects.select_for_update().filter(pk=infrastructure.pk).values("pk").get()
        report = UsageReport.objects.filter(
            infrastructure=infrastructure, reported_on=figures["reported_on"]
        ).first()
        if report is None:
            report = UsageReport(infrastructure=infrastructure, **figures)
            report._change_reason = "reported"
        else:
            for name, value in figures.items():
                setattr(report, name, value)
            report._change_reason = REPLACED
        report.received_at = timezone.now()
        report.save()
    return report
