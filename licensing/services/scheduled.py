"""The nightly run's entry point: the command and the beat task both call this."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from .. import nightly

__all__ = ["run_nightly"]


def run_nightly(
    *, today: date | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Every nightly check for the day (default: today, UTC): see licensing/nightly/."""
    return nightly.run_nightly(today=today, progress=progress)
