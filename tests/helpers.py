"""Assertions the tests share."""

import pytest
from django.core.exceptions import ValidationError


def refused(call, fragment):
    """Assert `call()` raises a ValidationError whose messages contain `fragment`; return
    the messages joined by spaces, for further assertions."""
    with pytest.raises(ValidationError) as error:
        call()
    text = " ".join(error.value.messages)
    assert fragment in text, text
    return text


def needs_postgresql(why: str = "row locks and concurrency") -> None:
    """Skip on SQLite, which serializes writers and has no advisory locks, so there is
    nothing to test there; CI (REQUIRE_SERVICES) fails instead of skipping."""
    import os

    from django.db import connection

    if connection.vendor != "postgresql":
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail(f"this test needs PostgreSQL: {why}")
        pytest.skip(f"{why}: runs on PostgreSQL (CI)")
