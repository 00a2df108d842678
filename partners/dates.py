"""Dates every app judges its rules on: today in UTC, and a timestamp on a given day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.utils import timezone


def today() -> date:
    """The current UTC date: every rule is judged on it unless told another day."""
    return timezone.now().date()


def stamp(on: date) -> datetime:
    """A timestamp on the day `on`: now for today, this time of day for another day."""
    return datetime.combine(on, timezone.now().astimezone(UTC).time(), tzinfo=UTC)
