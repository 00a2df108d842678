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
        self.stdout.write(f"license file verified (key {signing.key_id(key)})")
        self.stdout.write(json.dumps(claims, sort_keys=True, indent=2, ensure_ascii=False))
