"""Input hygiene: what no text from outside may carry into a query, a log line or a page.

PostgreSQL refuses the NUL character in text, and a lone UTF-16 surrogate (`"\\ud800"` in
JSON decodes to one) cannot be encoded as UTF-8 at all: either one reaching the database
is a 500. A JSON body nested thousands of levels deep makes `json.loads` raise
`RecursionError`. These checks are pure (they read no setting and touch no database), so a
view runs them first and answers 400 before anything else looks at the input.
"""

from __future__ import annotations

import json
import re
from typing import Any

NUL_CHARACTER = "Text may not contain the NUL character (\\u0000)."
LONE_SURROGATE = (
    "Text may not contain a lone UTF-16 surrogate (\\ud800 to \\udfff): send valid Unicode."
)
TOO_LARGE = "The body is larger than {limit} bytes."
NOT_UTF8 = "The body must be UTF-8 encoded JSON."
NOT_JSON = "The body is not valid JSON."
TOO_DEEP = "The JSON nests deeper than {depth} levels."


class BadInput(ValueError):
    """Input refused before it reaches anything else; the message says why, for the
    client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or logged as text, or None when it can."""
    if "\x00" in value:
        return NUL_CHARACTER
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # only lone surrogates fail: every other code point encodes
        return LONE_SURROGATE
    return None


# A JSON string token (escapes included) or a bracket: strings are matched whole, so that a
# bracket inside one is not counted as nesting. Linear: the alternatives start differently.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]|[\]}]', re.S)


def json_depth_exceeds(text: str, depth: int) -> bool:
    """Does `text` open more than `depth` arrays or objects inside each other? Counted
    without recursion, so that it can run before `json.loads` would raise RecursionError."""
    level = 0
    for match in _TOKENS.finditer(text):
        piece = match.group()
        if piece in ("[", "{"):
            level += 1
            if level > depth:
                return True
        elif piece in ("]", "}"):
            level -= 1
    return False


def json_body(raw: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """The JSON value of a request body, or BadInput saying what is wrong with it: larger
    than `max_bytes`, not UTF-8, nested deeper than `max_depth`, not JSON, or any string
    (object keys included) holding a NUL or a lone surrogate."""
    if len(raw) > max_bytes:
        raise BadInput(TOO_LARGE.format(limit=max_bytes))
    try:
        # Strict UTF-8: encoded surrogates (ED A0 80) are refused here already.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(NOT_UTF8) from None
    if json_depth_exceeds(text, max_depth):
        raise BadInput(TOO_DEEP.format(depth=max_depth))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a safety net, the scan stops it
        raise BadInput(NOT_JSON) from None
    problem = _first_text_problem(value)
    if problem:
        raise BadInput(problem)
    return value


def _first_text_problem(value: Any) -> str | None:
    # Iterative: the depth is already bounded, but a walk needs no recursion to be safe.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None
