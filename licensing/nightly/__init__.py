"""The nightly run: renew, expire, reactivate, cancel, remind, flag late provisioning and
report platform upgrades, for one day.

Every step picks the licenses due that day with an indexed query, works through them in
batches of `bulk.BATCH` (bulk updates with bulk history, no query per license) in one
transaction per batch, and leaves them no longer due: running the same day twice changes
nothing, and a run that crashed halfway finishes the rest when run again. Mails are
Notification rows with unique keys, delivered by tasks queued after each batch commits.

The dates follow SPEC "Dates": `ends_on` is the last valid day; the run for day D handles
every license with `ends_on < D`, so a missed night is caught up by the next one.

- `runner`: the run's record and order of steps (`run_nightly`, `run_global`);
- `lock`: one live run per day and part, freed when its process ends (even killed);
- `steps`: what each step selects and which `licensing.lifecycle` rule it applies;
- `reminders`: the reminder step; `bulk`: batches, the UPDATE and the history copy.
The entry point for callers is `licensing.services.run_nightly`.
"""

from . import bulk
from .bulk import BATCH, Context, Row
from .lock import LEASE_SECONDS, LockLost
from .reminders import owed_offset, send_reminders
from .runner import ACTIONS, DIED, chunks_finished, run_global, run_nightly, system_user
from .steps import GLOBAL_STEPS, LICENSE_STEPS, PARTNER_PROGRAM, STEPS

__all__ = [
    "ACTIONS",
    "BATCH",
    "DIED",
    "GLOBAL_STEPS",
    "LEASE_SECONDS",
    "LICENSE_STEPS",
    "PARTNER_PROGRAM",
    "STEPS",
    "Context",
    "LockLost",
    "Row",
    "bulk",
    "chunks_finished",
    "owed_offset",
    "run_global",
    "run_nightly",
    "send_reminders",
    "system_user",
]
