"""The license file through the license's year: what it says now, its serial, and the log
of every file handed out.

A file signs the license as it is when it is asked for (end date, state, registration,
platform release, environments with their servers' serials). Its `file_serial` is kept on
the license with the digest of what the last file said (`file_fingerprint`): the serial
grows only when what the file says changes, so a second download of the same content is
the same serial (with a newer `issued_at`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import signing
from ..choices import FileVia, LicenseState
from ..models import Environment, License, LicenseFileIssue
from .common import WRONG_STATE

__all__ = [
    "NOT_REGISTERED",
    "file_changes",
    "file_fingerprint",
    "issue_license_file",
    "license_claims",
    "license_file",
]

NOT_REGISTERED = "Register the infrastructure on the licensing portal before downloading."

# Not part of what a file says: two files differing only in these say the same thing.
VOLATILE_CLAIMS = ("issued_at", "file_serial")


def _environments(lic: License) -> list[Environment]:
    infra = lic.infrastructure
    slots = [name for name in lic.environment_names.split(",") if name]
    by_name = {e.name: e for e in infra.environments.all()} if infra else {}
    return [by_name[name] for name in slots if name in by_name]


def license_claims(lic: License) -> dict:
    """What a license file says about `lic` now, without `issued_at` and `file_serial`."""
    infra = lic.infrastructure
    environments = _environments(lic)
    return {
        "license_id": lic.pk,
        "license": str(lic),
        "kind": lic.policy.kind,
        "state": lic.state,
        "licensee": lic.licensee_name,
        "partner": lic.partner.name,
        "infrastructure_id": infra.registration_id,
        "registered_on": infra.registered_on.isoformat() if infra.registered_on else None,
        "platform_release": infra.platform_release.version if infra.platform_release else None,
        "environments": [name for name in lic.environment_names.split(",") if name],
        # The platform server registered in each slot (None: the slot is free).
        "environment_serials": {e.name: e.serial_number or None for e in environments},
        "limits": lic.limits,
        "starts_on": lic.starts_on.isoformat(),
        "ends_on": lic.ends_on.isoformat(),
    }


def file_fingerprint(claims: dict) -> str:
    """sha256 hex of the canonical claims without `issued_at` and `file_serial`."""
    content = {k: v for k, v in claims.items() if k not in VOLATILE_CLAIMS}
    canonical = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _require_file(lic: License) -> None:
    if lic.state != LicenseState.ACTIVE:
        raise ValidationError(
            WRONG_STATE.format(
                state=lic.get_state_display().lower(), expected="active", action="downloaded"
            ),
            code="wrong_state",
        )
    if lic.infrastructure is None or not lic.infrastructure.registration_id:
        raise ValidationError(NOT_REGISTERED, code="not_registered")


def _current(lic: License, by=None) -> tuple[License, bytes]:
    """Lock the license, raise its serial if what the file says changed, sign the file."""
    locked = (
        License.objects.select_for_update(of=("self",))
        .select_related("policy", "partner", "infrastructure__platform_release")
        .get(pk=lic.pk)
    )
    _require_file(locked)
    claims = license_claims(locked)
    fingerprint = file_fingerprint(claims)
    if fingerprint != locked.file_fingerprint:
        locked.file_serial += 1
        locked.file_fingerprint = fingerprint
        locked._history_user = by
        locked._change_reason = f"license file #{locked.file_serial}: its content changed"
        locked.save(update_fields=["file_serial", "file_fingerprint"])
    claims["file_serial"] = locked.file_serial
    claims["issued_at"] = timezone.now().astimezone(UTC).isoformat(timespec="seconds")
    return locked, signing.sign_claims(claims)


def license_file(lic: License) -> bytes:
    """The signed license file of an active license whose infrastructure is registered, as
    the license is now. Its serial is raised when the content changed; no handout is
    logged here: the portal and the admin hand files out through `issue_license_file`."""
    _require_file(lic)  # the caller's instance first: a refusal needs no lock
    with transaction.atomic():
        locked, data = _current(lic)
    lic.file_serial, lic.file_fingerprint = locked.file_serial, locked.file_fingerprint
    return data


def issue_license_file(lic: License, *, via: str, by=None) -> bytes:
    """Hand out the current license file and log it (serial, digest, when, where, who).

    1. the license is locked: two downloads of a changed license get one new serial;
    2. the serial is raised only when what the file says changed since the last file;
    3. the file is signed and its handout logged (`LicenseFileIssue`).
    """
    if via not in FileVia.values:
        raise ValueError(f"unknown file channel {via!r}")
    _require_file(lic)
    with transaction.atomic():
        locked, data = _current(lic, by)
        LicenseFileIssue.objects.create(
            license=locked,
            file_serial=locked.file_serial,
            sha256=hashlib.sha256(data).hexdigest(),
            issued_at=timezone.now(),
            via=via,
            by=by,
        )
    lic.file_serial, lic.file_fingerprint = locked.file_serial, locked.file_fingerprint
    return data


def file_changes(lic: License) -> dict:
    """What changed since the last file handed out, for the portal page:
    `{"new": bool, "serial": last serial or 0, "ends_on": (old, new) or None,
    "environments": [(name, old serial, new serial)], "issued_at": when or None}`.

    The last file's content is read from history as of its handout: the log keeps only
    the file's digest."""
    last = lic.file_issues.order_by("-issued_at", "-id").first()
    claims = license_claims(lic)
    if last is None:
        return {"new": True, "serial": 0, "ends_on": None, "environments": [], "issued_at": None}
    new = file_fingerprint(claims) != lic.file_fingerprint or last.file_serial < lic.file_serial
    then = lic.history.as_of(last.issued_at)
    ends_on = (then.ends_on.isoformat(), claims["ends_on"]) if then.ends_on != lic.ends_on else None
    old_serials = {
        e.name: e.serial_number or None
        for e in Environment.history.as_of(last.issued_at).filter(
            infrastructure_id=lic.infrastructure_id
        )
    }
    environments = [
        (name, old_serials.get(name), serial)
        for name, serial in claims["environment_serials"].items()
        if old_serials.get(name) != serial
    ]
    return {
        "new": new or bool(ends_on or environments),
        "serial": last.file_serial,
        "ends_on": ends_on,
        "environments": environments,
        "issued_at": last.issued_at,
    }
