"""What runs on a schedule: the night (the command and the beat task both call
`run_nightly`) and the outbox's delivery (`deliver_notifications`, every few minutes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from .. import nightly
from ..outbox import deliver_notifications

__all__ = ["deliver_notifications", "run_nightly"]


def run_nightly(
    *, today: date | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Every nightly check for the day (default: today, UTC): see licensing/nightly/."""
    return nightly.run_nightly(today=today, progress=progress)
