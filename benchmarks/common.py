"""What the parent process and its children share: the project root, the admin part's two
sizes, the progress log and the way a time is written."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("small", "large")  # of the admin part


def log(message: str) -> None:
    # stderr: stdout is the table.
    print(f"{datetime.now(tz=UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def fmt_ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:,.1f} ms"


def leave_mail_to_the_outbox() -> None:
    """In this process, the night's last step (delivering its mail) only counts what it
    would send: the benchmark compares the night's row changes with plain SQL doing the
    same, and delivery, one mail per transaction whatever the night, is measured on its
    own by benchmarks/delivery.py. Without this, a night at 2,000,000 licenses spends most
    of its time sending its mails one by one (to the dummy backend). Django must be set up."""
    from licensing import nightly
    from licensing.models import Notification
    from licensing.nightly import steps

    def deliver_mail(ctx):
        ctx.counts["mails_left_to_the_outbox"] = Notification.objects.filter(
            sent_at__isnull=True, failed_at__isnull=True
        ).count()

    for listed in (nightly.STEPS, steps.STEPS, steps.GLOBAL_STEPS):
        for i, step in enumerate(listed):
            if getattr(step, "__name__", "") == "deliver_mail":
                listed[i] = deliver_mail
