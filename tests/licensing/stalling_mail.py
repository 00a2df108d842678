"""For killing a real `run_nightly` process mid-delivery: a mail server that stalls.

`StallingBackend` writes each message to a file of its own in STALLING_MAIL_DIR (whole, by a
rename, so a reader never sees half a message) and, once STALLING_MAIL_AFTER messages are
out, hangs on the next one: the test kills the process there, with some mails sent and
marked sent, the rest pending. Without STALLING_MAIL_AFTER it never stalls (the rerun).
`settings` points a subprocess at it.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend

SENT = {"count": 0}  # messages out from this process


class StallingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        folder = Path(os.environ["STALLING_MAIL_DIR"])
        stall_after = int(os.environ.get("STALLING_MAIL_AFTER") or 0)
        for message in messages:
            if stall_after and SENT["count"] >= stall_after:
                time.sleep(600)  # the server hangs; the test kills the process meanwhile
            name = uuid.uuid4().hex
            partial = folder / f".{name}.tmp"
            partial.write_bytes(message.message().as_bytes())
            partial.rename(folder / f"{name}.eml")
            SENT["count"] += 1
        return len(messages)
