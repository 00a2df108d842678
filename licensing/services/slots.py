"""Environment slots of an on-premises license: the platform server registered in each, and
its release by the licensing team so the slot can serve another server."""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from .. import mails
from ..choices import Hosting, LicenseState
from ..models import Environment, License
from .common import people, require_licensing_team, require_reason, tell, today
from .portal import InvalidActivationCode, portal_license

__all__ = [
    "NO_FREE_SLOT",
    "SERIAL_MALFORMED",
    "SERIAL_RE",
    "SERIAL_TAKEN",
    "SLOT_FREE",
    "SLOT_HELD",
    "UNKNOWN_SLOT",
    "register_environment",
    "register_slot",
    "release_environment",
]

SERIAL_RE = re.compile(r"^[A-Za-z0-9.\-]{6,64}$")
SERIAL_MALFORMED = "A server serial number is 6 to 64 letters, digits, dots or dashes."
SERIAL_TAKEN = "This server serial number is already registered."
UNKNOWN_SLOT = "This license has no environment {name}: choose one of {names}."
SLOT_HELD = (
    "The {name} environment already holds server {serial}: ask the licensing team to release "
    "it before registering another server."
)
NO_FREE_SLOT = (
    "All {count} environments of this license hold a server: ask the licensing team to "
    "release one before registering another."
)
SLOT_FREE = "The {name} environment holds no server: there is nothing to release."


def _slots(lic: License) -> list[str]:
    return [name for name in lic.environment_names.split(",") if name]


@sensitive_variables("activation_code")
def register_environment(
    *,
    activation_code: str,
    registration_id: str,
    environment_name: str,
    serial_number: str,
    on: date | None = None,
) -> Environment:
    """The portal: register a platform server's serial in an environment slot, the license
    opened by its activation code and registered identifier as `portal_license` does (a
    wrong pair raises the same InvalidActivationCode)."""
    lic = portal_license(activation_code=activation_code, registration_id=registration_id, on=on)
    return register_slot(lic, environment_name=environment_name, serial_number=serial_number, on=on)


@transaction.atomic
def register_slot(
    lic: License, *, environment_name: str, serial_number: str, on: date | None = None
) -> Environment:
    """Register a server in a slot of a license the caller has authenticated (the portal's
    session after `portal_license`).

    1. the license, locked, is still an active on-premises one (else the generic error);
    2. the slot is one of its environments, free; some slot is free at all;
    3. the serial is well formed and registered nowhere else (ignoring case);
    4. the serial and the day are saved, the history says so, and the technical contact
       is told a new license file is ready.
    """
    on = on or today()
    locked = (
        License.objects.select_for_update(of=("self",))
        .select_related("policy", "partner", "infrastructure")
        .filter(pk=lic.pk, state=LicenseState.ACTIVE, hosting=Hosting.ON_PREMISES)
        .first()
    )
    if locked is None or locked.infrastructure is None:
        raise InvalidActivationCode()
    slots = _slots(locked)
    environments = {
        e.name.lower(): e
        for e in Environment.objects.select_for_update()
        .filter(infrastructure=locked.infrastructure, name__in=slots)
        .order_by("pk")
    }
    environment = environments.get((environment_name or "").strip().lower())
    if environment is None:
        raise ValidationError(
            {
                "environment_name": UNKNOWN_SLOT.format(
                    name=environment_name, names=", ".join(slots)
                )
            },
            code="unknown_slot",
        )
    if all(e.serial_number for e in environments.values()):
        raise ValidationError(
            {"serial_number": NO_FREE_SLOT.format(count=len(environments))}, code="no_free_slot"
        )
    if environment.serial_number:
        raise ValidationError(
            {
                "serial_number": SLOT_HELD.format(
                    name=environment.name, serial=environment.serial_number
                )
            },
            code="slot_held",
        )
    serial = (serial_number or "").strip()
    if not SERIAL_RE.match(serial):
        raise ValidationError({"serial_number": SERIAL_MALFORMED}, code="serial_malformed")
    if Environment.objects.filter(serial_number__iexact=serial).exists():
        raise ValidationError({"serial_number": SERIAL_TAKEN}, code="serial_taken")
    environment.serial_number = serial
    environment.registered_on = on
    environment._change_reason = f"server {serial} registered on the licensing portal"
    try:
        with transaction.atomic():
            environment.save(update_fields=["serial_number", "registered_on"])
    except IntegrityError:  # registered elsewhere a moment ago
        raise ValidationError({"serial_number": SERIAL_TAKEN}, code="serial_taken") from None
    _tell_file_ready(locked, environment, mails.SLOT_REGISTERED, serial)
    return environment


@transaction.atomic
def release_environment(
    environment: Environment, *, by, reason: str, on: date | None = None
) -> Environment:
    """The licensing team frees a slot (the server moved, or died): the serial is cleared,
    the history keeps it and the reason, and the slot can be registered again."""
    require_licensing_team(by, "release an environment of")
    reason = require_reason(reason)
    locked = (
        Environment.objects.select_for_update(of=("self",))
        .select_related("infrastructure")
        .get(pk=environment.pk)
    )
    serial = locked.serial_number
    if not serial:
        raise ValidationError(SLOT_FREE.format(name=locked.name), code="slot_free")
    locked.serial_number = ""
    locked.registered_on = None
    locked._history_user = by
    locked._change_reason = f"server {serial} released: {reason}"
    locked.save(update_fields=["serial_number", "registered_on"])
    lic = (
        License.objects.filter(
            infrastructure=locked.infrastructure_id,
            state=LicenseState.ACTIVE,
            hosting=Hosting.ON_PREMISES,
        )
        .order_by("-pk")
        .first()
    )
    if lic is not None:
        _tell_file_ready(lic, locked, mails.SLOT_RELEASED, serial)
    environment.serial_number, environment.registered_on = "", None
    return locked


def _tell_file_ready(lic: License, environment: Environment, why: str, serial: str) -> None:
    # The environment's new history row names this change: a second registration of the
    # slot is a second mail, a replay of this one none.
    change = environment.history.order_by("-history_id").values_list("history_id", flat=True)[0]
    tell(
        mails.file_ready(
            people(lic),
            event=f"{environment.pk}.{change}",
            ends_on=lic.ends_on,
            why=why,
            environment=environment.name,
            serial_number=serial,
        )
    )
