"""A logging filter that masks secrets that slipped into a log line.

Code never logs activation codes or API tokens on purpose; this is the net under it (an
exception message that quotes user input, a library that logs a request): every record's
message is searched for the shapes of our secrets and they are masked.
"""

from __future__ import annotations

import logging
import re

SECRET_SHAPES = [
    # Activation codes: four groups of four from the code alphabet.
    re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b"),
    # API tokens as sent in a header.
    re.compile(r"(?i)(Token\s+)[A-Za-z0-9_\-]{16,}"),
]
MASK = "[redacted]"


def redact(text: str) -> str:
    text = SECRET_SHAPES[0].sub(MASK, text)
    return SECRET_SHAPES[1].sub(lambda m: m.group(1) + MASK, text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
