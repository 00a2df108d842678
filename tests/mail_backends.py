"""Mail backends for tests: a server that is down, or refuses some recipients for good."""

from __future__ import annotations

import smtplib

from django.core.mail.backends.locmem import EmailBackend

# What the server does, set by the test: "down", or the addresses it refuses (5xx).
STATE: dict = {"down": False, "refused": set()}


class FlakyBackend(EmailBackend):
    """The locmem backend behind a server that may be down or refuse recipients."""

    def send_messages(self, messages):
        for message in messages:
            if STATE["down"]:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            refused = set(message.to) & STATE["refused"]
            if refused:
                raise smtplib.SMTPRecipientsRefused(
                    {address: (550, b"5.1.1 mailbox unavailable") for address in refused}
                )
        return super().send_messages(messages)
