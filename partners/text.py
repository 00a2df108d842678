"""Sentences built from names: "… for Seattle Apps Co." ends with one full stop, not two."""

from __future__ import annotations


def sentence(text: str) -> str:
    """`text` with the full stop a name already ended with not doubled ("Co.." → "Co."),
    an ellipsis left alone."""
    if text.endswith("..") and not text.endswith("..."):
        return text[:-1]
    return text
