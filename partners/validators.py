"""Validators the apps' models share."""

from __future__ import annotations

from django.core.exceptions import ValidationError

LINE_BREAK = "Use one line: line breaks are not allowed in a name."


def has_line_break(value: str) -> bool:
    """True when `value` holds any line boundary Python knows: \\n, \\r, \\v, \\f, the
    file/group/record separators, NEL (\\x85), and the Unicode line and paragraph
    separators (\\u2028, \\u2029)."""
    # splitlines() is the definition: a single line comes back as itself, unchanged.
    return bool(value) and value.splitlines() != [value]


def no_line_breaks(value: str) -> None:
    """Refuse a name or address on more than one line: it ends up in a mail's subject or
    headers, where a line break either fails the mail or starts a header of its own."""
    if has_line_break(value):
        raise ValidationError(LINE_BREAK, code="line_break")
