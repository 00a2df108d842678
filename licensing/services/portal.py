"""What the licensing portal calls: registering an on-premises infrastructure with its
activation code, and the signed license file."""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from ..choices import Hosting, LicenseState
from ..models import Infrastructure, License, PlatformRelease
from .common import stamp, today

__all__ = [
    "INVALID_CODE",
    "REGISTRATION_ID_MALFORMED",
    "REGISTRATION_ID_RE",
    "REGISTRATION_ID_TAKEN",
    "UNKNOWN_RELEASE",
    "InvalidActivationCode",
    "portal_license",
    "register_infrastructure",
]

# Portal.
INVALID_CODE = (
    "This activation code is not valid. Check the code in your onboarding mail, "
    "or ask your channel manager."
)
REGISTRATION_ID_MALFORMED = (
    "An infrastructure identifier is 6 to 64 letters, digits, dots or dashes, "
    "starting with a letter or digit."
)
REGISTRATION_ID_TAKEN = "This infrastructure identifier is already registered."
UNKNOWN_RELEASE = "Unknown platform release {version}: choose one from the list."

REGISTRATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{5,63}$")


class InvalidActivationCode(ValidationError):
    """Wrong, used or inactive code: one generic message, whatever the cause."""

    def __init__(self) -> None:
        super().__init__(INVALID_CODE, code="invalid_activation_code")


@sensitive_variables("activation_code", "code")
def register_infrastructure(
    *, activation_code: str, registration_id: str, platform_version: str, on: date | None = None
) -> License:
    """What the licensing portal calls: bind an on-premises infrastructure to its license.

    A wrong code, a used code and the code of a license that is not an active on-premises
    one raise the same InvalidActivationCode; only after a valid code may the caller learn
    that the identifier is malformed or taken, or the release unknown.
    """
    on = on or today()
    code = (activation_code or "").strip().upper()
    # The transaction is opened here, not by a decorator: a decorator's frame would carry
    # the code in its arguments into error reports, past sensitive_variables.
    with transaction.atomic():
        return _register(code, registration_id, platform_version, on)


@sensitive_variables("code")
def _register(code: str, registration_id: str, platform_version: str, on: date) -> License:
    lic = (
        License.objects.select_for_update(of=("self",))
        .select_related("infrastructure")
        .filter(
            activation_code=code,
            state=LicenseState.ACTIVE,
            hosting=Hosting.ON_PREMISES,
            activation_code_used_at__isnull=True,
        )
        .first()
        if code
        else None
    )
    if lic is None or lic.infrastructure is None:
        raise InvalidActivationCode()
    registration_id = (registration_id or "").strip()
    if not REGISTRATION_ID_RE.match(registration_id):
        raise ValidationError({"registration_id": REGISTRATION_ID_MALFORMED})
    infra = lic.infrastructure
    taken = Infrastructure.objects.filter(registration_id__iexact=registration_id).exclude(
        pk=infra.pk
    )
    if taken.exists():
        raise ValidationError({"registration_id": REGISTRATION_ID_TAKEN})
    release = PlatformRelease.objects.filter(version=(platform_version or "").strip()).first()
    if release is None:
        raise ValidationError(
            {"platform_version": UNKNOWN_RELEASE.format(version=platform_version)}
        )
    infra.registration_id = registration_id
    infra.registered_on = on
    infra.platform_release = release
    infra._change_reason = "registered on the licensing portal"
    try:
        with transaction.atomic():
            infra.save(update_fields=["registration_id", "registered_on", "platform_release"])
    except IntegrityError:  # registered by someone else a moment ago
        raise ValidationError({"registration_id": REGISTRATION_ID_TAKEN}) from None
    lic.activation_code_used_at = stamp(on)
    lic._change_reason = "infrastructure registered on the licensing portal"
    lic.save(update_fields=["activation_code_used_at"])
    return lic


@sensitive_variables("activation_code", "code")
def portal_license(
    *, activation_code: str, registration_id: str, on: date | None = None
) -> License:
    """A returning partner: the activation code together with the identifier it registered
    (both ignoring case) opens its active on-premises license. Any other pair, or a license
    in another state, raises the same InvalidActivationCode as a wrong code. A used code is
    accepted here: it registered this infrastructure."""
    code = (activation_code or "").strip().upper()
    registration_id = (registration_id or "").strip()
    if not code or not registration_id:
        raise InvalidActivationCode()
    lic = (
        License.objects.select_related("policy", "partner", "infrastructure__platform_release")
        .filter(
            activation_code=code,
            state=LicenseState.ACTIVE,
            hosting=Hosting.ON_PREMISES,
            infrastructure__registration_id__iexact=registration_id,
        )
        .first()
    )
    if lic is None:
        raise InvalidActivationCode()
    return lic
