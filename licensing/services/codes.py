"""Reissuing a license's activation code: a lost or leaked code is replaced, never shown
again, and the old one stops working everywhere at once."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from .. import mails
from ..choices import LicenseState
from ..models import License
from .common import (
    lock,
    people,
    require_licensing_team,
    require_reason,
    require_state,
    sync,
    tell,
    today,
)
from .common import save as save_license
from .provisioning import new_activation_code

__all__ = ["reissue_activation_code"]


@sensitive_variables("code")
@transaction.atomic
def reissue_activation_code(lic: License, *, by, reason: str, on: date | None = None) -> str:
    """Replace the activation code of an active license; return the new code (the caller
    shows it once).

    1. only the licensing team, with a reason, only an active license;
    2. the new code replaces the old one on the license: every portal path looks the code
       up there, so the old one is dead at once; the number, infrastructure, registration
       (and whether the code registered it) and environments stay;
    3. `activation_code_sequence` + 1: an open portal session of the old code ends;
    4. the history says who and why, never the code (it is excluded from history);
    5. the technical contact gets the new code by mail, keyed by the sequence.
    """
    on = on or today()
    require_licensing_team(by, "reissue the activation code of")
    reason = require_reason(reason)
    locked = lock(lic)
    require_state(locked, (LicenseState.ACTIVE,), "given a new activation code")
    code = new_activation_code()
    locked.activation_code = code
    locked.activation_code_sequence += 1
    save_license(
        locked,
        by,
        f"activation code reissued: {reason}",
        ["activation_code", "activation_code_sequence"],
    )
    tell(mails.code_reissued(people(locked), sequence=locked.activation_code_sequence))
    sync(lic, locked)
    return code
