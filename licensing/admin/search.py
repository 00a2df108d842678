"""Finding a license by what people call it: its number ("DL-8", "dl-8", "8"), and, on an
on-premises license, the last four characters of its activation code as the page shows
them. The license list, the extension list and every license autocomplete (which runs the
license admin's own search) share this one reading of a search term.

A number given with its kind must match both: "IL-8" does not find DL-8. A code is matched
on its last four characters only, exactly, and never as a substring of the full code: the
rest of a code is a secret no search may probe.
"""

from __future__ import annotations

import re

from django.db.models import Q

from ..choices import LicenseKind

# "DL-8", "dl 8", "DL8", "#8", "8": an optional kind, then the number.
_NUMBER = re.compile(r"#?(?:(?P<kind>[A-Za-z]{2})[-\s]?)?(?P<number>\d{1,9})")
# The last group of a code as the license page masks it ("••••-••••-••••-7KQ2").
_CODE_END = re.compile(r"[A-Za-z0-9]{4}")
_KINDS = {kind.upper() for kind in LicenseKind.values}


def license_q(term: str, path: str = "") -> Q | None:
    """The licenses (at `path` from the model searched) a search term names by number or
    by the end of the activation code; None when the term names none that way."""
    term = term.strip()
    prefix = f"{path}__" if path else ""
    found = Q(pk__in=[])
    matched = False
    number = _NUMBER.fullmatch(term)
    if number:
        kind = (number["kind"] or "").upper()
        if not kind or kind in _KINDS:
            found |= Q(**{f"{prefix}pk": int(number["number"])})
            if kind:
                found &= Q(**{f"{prefix}policy__kind": kind})
            matched = True
    if _CODE_END.fullmatch(term) and not term.isdigit():
        # Codes are written upper-case; the last group follows the last dash.
        found |= Q(**{f"{prefix}activation_code__endswith": f"-{term.upper()}"})
        matched = True
    return found if matched else None


class LicenseSearchMixin:
    """A model admin whose search also finds licenses by number and by the end of their
    activation code (see the module). `license_path` leads from the model to its license
    ("" on the license admin itself)."""

    license_path = ""

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        condition = license_q(search_term, self.license_path)
        if condition is not None:
            # The same (already scoped) queryset, so a number outside the user's scope
            # stays hidden; an OR of conditions, no extra query.
            results = results | queryset.filter(condition)
        return results, may_have_duplicates
