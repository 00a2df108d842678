"""Verify a signed license file offline and print its claims."""

import json
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from licensing import signing

CANNOT_READ = "Cannot read {what} {path}: {reason}."


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(
            CANNOT_READ.format(what=what, path=path, reason=exc.strerror or exc)
        ) from exc


class Command(BaseCommand):
    help = (
        "Verify a license file's Ed25519 signature and print its claims. Needs only the public "
        "key: the given PEM file, or by default the configured signing key's public key."
    )
    # The verifier must run wherever a license file lands (a support laptop, a customer's
    # shell), so it does not depend on the project's system checks or database passing.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("path", help="the license file to verify")
        parser.add_argument(
            "--public-key",
            metavar="PEM",
            help="PEM file of the Ed25519 public key (default: the configured signing key's)",
        )

    def handle(self, *args, path: str, public_key: str | None, **options):
        data = _read(path, "license file")
        try:
            if public_key:
                # Only the public half: a verifier holding no private key must work.
                key = signing.load_public_key_pem(_read(public_key, "public key file"))
            else:
                key = signing.load_private_key().public_key()
            claims = signing.verify(data, key)
        except (signing.LicenseFileError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        serial = f", file serial {claims['file_serial']}" if "file_serial" in claims else ""
        # stdout stays one header line and the claims' JSON (scripts parse it); what the
        # database knows of a newer file is a notice, on stderr.
        self.stdout.write(f"license file verified (key {signing.key_id(key)}{serial})")
        self.stdout.write(json.dumps(claims, sort_keys=True, indent=2, ensure_ascii=False))
        newer = _newer(claims) if serial else ""
        if newer:
            self.stderr.write(f"notice: {newer}")


def _newer(claims: dict) -> str:
    """What the database this runs against knows of a newer file; "" when nothing (or when
    the license, or a database, is unknown here: verifying needs only the public key)."""
    from django.db import DatabaseError

    from licensing.choices import LicenseState
    from licensing.models import License
    from licensing.services import file_fingerprint, license_claims

    serial = claims["file_serial"]
    try:
        lic = (
            License.objects.select_related("policy", "partner", "infrastructure__platform_release")
            .filter(pk=claims.get("license_id"))
            .first()
        )
        if lic is None:
            return ""
        if lic.file_serial > serial:
            return f"a newer license file exists: serial {lic.file_serial} (this file: {serial})"
        if lic.state != LicenseState.ACTIVE:
            return f"the license is {lic.get_state_display().lower()} now"
        if file_fingerprint(license_claims(lic)) != file_fingerprint(claims):
            return (
                f"the license has changed since this file: a newer license file "
                f"(serial {serial + 1}) is ready"
            )
    except (DatabaseError, ImproperlyConfigured, AttributeError, TypeError, ValueError):
        return ""
    return ""
