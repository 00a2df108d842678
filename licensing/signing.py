"""The signed license file: Ed25519 signing and the offline verification of it.

Pure functions, no models: the portal builds the claims, this module signs them, and
``manage.py verify_license_file`` (or a customer holding only the public key) checks them.

File format, version 1 (ASCII, one JSON object, keys sorted, two-space indent, final newline)::

    {
      "alg": "Ed25519",
      "claims": {...},
      "key_id": "<first 16 hex chars of sha256(raw 32-byte public key)>",
      "signature": "<standard base64 of the 64-byte Ed25519 signature>"
    }

The signature covers the canonical claims bytes::

    json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
               allow_nan=False).encode()

and the whole file is ``json.dumps(document, sort_keys=True, indent=2, ensure_ascii=True)
+ "\\n"``. Claims are JSON-native values only (str, int, float, bool, None, lists, dicts
with str keys); callers pass dates as ISO strings.

Verification is strict so that any changed byte fails, not only a changed claim: besides the
signature, the key id must be the verifying key's, and re-serializing the parsed document
must give back the file byte for byte (whitespace edits, escaped-but-equal strings and
non-canonical base64 all decode to the same signed content, so only this catches them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

ALG = "Ed25519"
DOCUMENT_KEYS = frozenset({"alg", "claims", "key_id", "signature"})
SIGNATURE_LENGTH = 64

KEY_FILE_NOT_SET = (
    "The setting LICENSE_SIGNING_KEY_FILE is not set: it must name the PEM file holding the "
    "Ed25519 license signing key."
)
KEY_FILE_MISSING = (
    "The license signing key file {path} (setting LICENSE_SIGNING_KEY_FILE) does not exist. "
    "Install the production key there; LICENSE_SIGNING_KEY_AUTOGENERATE=True generates one, "
    "but only for development and tests."
)
KEY_FILE_UNREADABLE = (
    "The license signing key file {path} (setting LICENSE_SIGNING_KEY_FILE) cannot be read: "
    "{reason}."
)
KEY_FILE_INVALID = (
    "The license signing key file {path} (setting LICENSE_SIGNING_KEY_FILE) does not hold an "
    "unencrypted Ed25519 private key in PEM format."
)
CLAIMS_NOT_JSON_NATIVE = (
    "License claims must be JSON-native values (str, int, float, bool, None, lists, dicts with "
    "str keys) that survive a JSON round trip unchanged; pass dates as ISO strings."
)

NOT_A_LICENSE_FILE = "This is not a license file: it is not a well-formed signed license document."
SIGNATURE_MISMATCH = (
    "The license file signature does not match: the file was altered or signed with another key."
)
ALTERED_FORMATTING = (
    "The license file has been altered: its formatting differs from the file that was signed."
)
NOT_A_PUBLIC_KEY = "This is not an Ed25519 public key in PEM format."

# Keyed by the resolved path so that tests (and a settings change) pointing at another file
# get another key, while the portal signs many files without re-reading the PEM each time.
_key_cache: dict[str, Ed25519PrivateKey] = {}
_key_cache_lock = threading.Lock()


class LicenseFileError(ValueError):
    """The bytes are not a license file validly signed by the verifying key."""


def clear_key_cache() -> None:
    """Forget loaded keys (tests point LICENSE_SIGNING_KEY_FILE at a new file each time)."""
    with _key_cache_lock:
        _key_cache.clear()


def load_private_key() -> Ed25519PrivateKey:
    """Return the signing key named by LICENSE_SIGNING_KEY_FILE, generating it in development."""
    configured = getattr(settings, "LICENSE_SIGNING_KEY_FILE", None)
    if not configured:
        raise ImproperlyConfigured(KEY_FILE_NOT_SET)
    path = Path(configured).expanduser().resolve()
    cache_key = str(path)
    with _key_cache_lock:
        key = _key_cache.get(cache_key)
        if key is None:
            key = _read_or_generate(path)
            _key_cache[cache_key] = key
    return key


def _read_or_generate(path: Path) -> Ed25519PrivateKey:
    try:
        return _read_private_key(path)
    except FileNotFoundError:
        if not getattr(settings, "LICENSE_SIGNING_KEY_AUTOGENERATE", False):
            raise ImproperlyConfigured(KEY_FILE_MISSING.format(path=path)) from None
    return _generate_private_key(path)


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ImproperlyConfigured(
            KEY_FILE_UNREADABLE.format(path=path, reason=exc.strerror or exc)
        ) from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ImproperlyConfigured(KEY_FILE_INVALID.format(path=path)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(KEY_FILE_INVALID.format(path=path))
    return key


def _generate_private_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # The key is written to a private temporary file (created 0o600, so never readable by
    # others even for a moment) and then hard-linked into place: the link is atomic and fails
    # if the file exists, so a concurrent process never reads a half-written key and the loser
    # of the race simply reads the winner's key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_private_key(path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("generated a development license signing key at %s", path)
    return key


def public_key_pem(private_key: Ed25519PrivateKey | None = None) -> bytes:
    """SubjectPublicKeyInfo PEM of the (configured) signing key's public key."""
    key = private_key if private_key is not None else load_private_key()
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short fingerprint naming the key in the file, so a mismatch is visible at a glance."""
    raw = public_key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key_pem(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key, refusing anything but Ed25519."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise LicenseFileError(NOT_A_PUBLIC_KEY) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise LicenseFileError(NOT_A_PUBLIC_KEY)
    return key


def _canonical_claims(claims: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN and Infinity are not JSON, and a verifier in another language
    # could not reproduce the signed bytes.
    return json.dumps(
        claims, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _render(*, claims: dict[str, Any], kid: str, signature: str) -> bytes:
    document = {"alg": ALG, "claims": claims, "key_id": kid, "signature": signature}
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")


def sign_claims(claims: dict[str, Any]) -> bytes:
    """Return the license file bytes for these claims, signed with the configured key."""
    canonical = _canonical_claims(claims)
    # A tuple, a date or an int key would be signed as something else than what the caller
    # holds, and verify() would then return claims different from the ones issued.
    if json.loads(canonical) != claims:
        raise ValueError(CLAIMS_NOT_JSON_NATIVE)
    private_key = load_private_key()
    signature = base64.b64encode(private_key.sign(canonical)).decode("ascii")
    return _render(claims=claims, kid=key_id(private_key.public_key()), signature=signature)


def verify(data: bytes, public_key: Ed25519PublicKey | bytes | None = None) -> dict[str, Any]:
    """Return the claims of a license file, or raise LicenseFileError.

    1. The bytes are ASCII JSON with exactly alg/claims/key_id/signature, alg Ed25519.
    2. The signature is strict base64 of 64 bytes.
    3. It is a valid Ed25519 signature of the canonical claims by ``public_key`` (a key
       object or PEM bytes; by default the configured signing key's public key).
    4. The key id is that key's (it is outside the signature, so it is checked here).
    5. Re-serializing the document reproduces ``data`` byte for byte.
    """
    if isinstance(public_key, bytes | bytearray):
        public_key = load_public_key_pem(bytes(public_key))
    elif public_key is None:
        public_key = load_private_key().public_key()

    try:
        document = json.loads(bytes(data).decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LicenseFileError(NOT_A_LICENSE_FILE) from exc
    if (
        not isinstance(document, dict)
        or set(document) != DOCUMENT_KEYS
        or document["alg"] != ALG
        or not isinstance(document["claims"], dict)
        or not isinstance(document["key_id"], str)
        or not isinstance(document["signature"], str)
    ):
        raise LicenseFileError(NOT_A_LICENSE_FILE)
    claims = document["claims"]
    try:
        signature = base64.b64decode(document["signature"], validate=True)
        canonical = _canonical_claims(claims)
    except (binascii.Error, ValueError) as exc:
        raise LicenseFileError(NOT_A_LICENSE_FILE) from exc
    if len(signature) != SIGNATURE_LENGTH:
        raise LicenseFileError(NOT_A_LICENSE_FILE)

    try:
        public_key.verify(signature, canonical)
    except InvalidSignature as exc:
        raise LicenseFileError(SIGNATURE_MISMATCH) from exc
    if document["key_id"] != key_id(public_key):
        raise LicenseFileError(SIGNATURE_MISMATCH)

    rendered = _render(claims=claims, kid=document["key_id"], signature=document["signature"])
    if rendered != bytes(data):
        raise LicenseFileError(ALTERED_FORMATTING)
    return claims
