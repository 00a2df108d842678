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
