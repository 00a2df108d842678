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
