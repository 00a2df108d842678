import json
import logging
import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from licensing import signing

PROJECT_DIR = Path(__file__).resolve().parents[2]

CLAIMS = {
    "license_id": 42,
    "kind": "on_premises",
    # Non-ASCII on purpose: the file is ASCII, so this must survive as \u escapes.
    "licensee": "Müller Datentechnik GmbH",
    "infrastructure_id": "ACME-PROD-01",
    "environments": ["production", "staging"],
    "limits": {"nodes": 12, "users": None},
    "starts": "2025-01-01",
    "ends": "2025-12-31",
}


@pytest.fixture(autouse=True)
def signing_key(settings, tmp_path):
    settings.LICENSE_SIGNING_KEY_FILE = tmp_path / "keys" / "license-signing.pem"
    settings.LICENSE_SIGNING_KEY_AUTOGENERATE = True
    signing.clear_key_cache()
    yield settings.LICENSE_SIGNING_KEY_FILE
    signing.clear_key_cache()


@pytest.fixture
def license_file(tmp_path):
    path = tmp_path / "license.json"
    path.write_bytes(signing.sign_claims(CLAIMS))
    return path


@pytest.fixture
def public_pem(tmp_path):
    path = tmp_path / "public.pem"
    path.write_bytes(signing.public_key_pem())
    return path


@pytest.fixture
def other_public_pem(tmp_path):
    path = tmp_path / "other.pem"
    path.write_bytes(signing.public_key_pem(Ed25519PrivateKey.generate()))
    return path


def tampered(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


# --- the file ---------------------------------------------------------------------------


def test_signed_file_verifies_and_returns_exactly_the_claims():
    data = signing.sign_claims(CLAIMS)

    assert signing.verify(data) == CLAIMS


def test_signed_file_is_the_documented_ascii_json_document():
    data = signing.sign_claims(CLAIMS)

    data.decode("ascii")  # a third-party verifier may read it as ASCII
    document = json.loads(data)
    assert sorted(document) == ["alg", "claims", "key_id", "signature"]
    assert document["alg"] == "Ed25519"
    assert document["key_id"] == signing.key_id(signing.load_private_key().public_key())
    assert len(document["key_id"]) == 16
    assert data.endswith(b"}\n")


def test_verify_accepts_a_public_key_loaded_from_pem_alone():
    data = signing.sign_claims(CLAIMS)
    public_key = signing.load_public_key_pem(signing.public_key_pem())

    assert signing.verify(data, public_key) == CLAIMS


def test_flipping_any_single_byte_of_the_file_fails_verification():
    data = signing.sign_claims(CLAIMS)

    # Every position, not a sample: the key id and the base64 padding bits lie outside the
    # signed bytes, and only checking each byte proves those are covered too.
    for position in range(len(data)):
        with pytest.raises(signing.LicenseFileError):
            signing.verify(tampered(data, position))


def test_changed_claim_is_reported_as_signature_mismatch():
    data = signing.sign_claims(CLAIMS).replace(b'"nodes": 12', b'"nodes": 99')

    with pytest.raises(signing.LicenseFileError, match=signing.SIGNATURE_MISMATCH):
        signing.verify(data)


def test_reformatted_file_is_reported_as_altered_formatting():
    # The signed claims are unchanged, so only the byte-for-byte check catches this edit.
    data = signing.sign_claims(CLAIMS).replace(b'"kind": ', b'"kind":  ')

    with pytest.raises(signing.LicenseFileError, match=signing.ALTERED_FORMATTING):
        signing.verify(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", json.dumps({"claims": {}}).encode(), "é".encode()],
)
def test_garbage_is_not_a_license_file(data):
    with pytest.raises(signing.LicenseFileError, match=signing.NOT_A_LICENSE_FILE):
        signing.verify(data)


def test_file_verified_with_another_keys_public_key_fails():
    data = signing.sign_claims(CLAIMS)
    other = Ed25519PrivateKey.generate().public_key()

    with pytest.raises(signing.LicenseFileError, match=signing.SIGNATURE_MISMATCH):
        signing.verify(data, other)


def test_sign_refuses_claims_that_would_not_round_trip():
    with pytest.raises(ValueError, match="JSON-native"):
        signing.sign_claims({"environments": ("production",)})


def test_load_public_key_pem_refuses_non_key_input():
    with pytest.raises(signing.LicenseFileError, match=signing.NOT_A_PUBLIC_KEY):
        signing.load_public_key_pem(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


# --- the key ----------------------------------------------------------------------------


def test_key_is_generated_on_first_use_private_to_the_owner(signing_key, caplog):
    assert not signing_key.exists()

    with caplog.at_level(logging.INFO, logger="licensing.signing"):
        key = signing.load_private_key()

    assert signing_key.exists()
    # A world-readable signing key would let anyone on the host mint licenses.
    assert stat.S_IMODE(signing_key.stat().st_mode) == 0o600
    assert "generated a development license signing key at" in caplog.text
    assert "PRIVATE KEY" not in caplog.text
    assert list(signing_key.parent.iterdir()) == [signing_key]  # no temporary file left
    assert isinstance(key, Ed25519PrivateKey)


def test_generated_key_is_reused_after_the_cache_is_cleared(signing_key):
    first = signing.key_id(signing.load_private_key().public_key())
    pem = signing_key.read_bytes()
    signing.clear_key_cache()

    second = signing.key_id(signing.load_private_key().public_key())

    assert second == first
    assert signing_key.read_bytes() == pem


def test_file_signed_before_a_restart_still_verifies():
    data = signing.sign_claims(CLAIMS)
    signing.clear_key_cache()

    assert signing.verify(data) == CLAIMS


def test_missing_key_without_autogenerate_is_a_configuration_error(settings, signing_key):
    settings.LICENSE_SIGNING_KEY_AUTOGENERATE = False

    with pytest.raises(ImproperlyConfigured, match="LICENSE_SIGNING_KEY_FILE"):
        signing.load_private_key()
    assert not signing_key.exists()


def test_key_file_that_is_not_an_ed25519_key_is_a_configuration_error(signing_key):
    signing_key.parent.mkdir(parents=True)
    signing_key.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")

    with pytest.raises(ImproperlyConfigured, match="LICENSE_SIGNING_KEY_FILE"):
        signing.load_private_key()


# --- the command ------------------------------------------------------------------------


def run_command(*args) -> str:
    out = StringIO()
    call_command("verify_license_file", *(str(arg) for arg in args), stdout=out)
    return out.getvalue()


def test_command_prints_the_verified_claims(license_file):
    output = run_command(license_file)

    kid = signing.key_id(signing.load_private_key().public_key())
    header, _, body = output.partition("\n")
    assert header == f"license file verified (key {kid})"
    assert json.loads(body) == CLAIMS


def test_command_refuses_a_tampered_file(license_file):
    data = license_file.read_bytes()
    license_file.write_bytes(data.replace(b'"nodes": 12', b'"nodes": 13'))

    with pytest.raises(CommandError, match=signing.SIGNATURE_MISMATCH):
        run_command(license_file)


def test_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read license file"):
        run_command(tmp_path / "nowhere.json")


def test_command_refuses_another_keys_public_key(license_file, other_public_pem):
    with pytest.raises(CommandError, match=signing.SIGNATURE_MISMATCH):
        run_command(license_file, "--public-key", other_public_pem)


def test_command_needs_only_the_public_key(settings, tmp_path, license_file, public_pem):
    # A verifier's machine holds no private key and must never generate one.
    missing = tmp_path / "absent" / "key.pem"
    settings.LICENSE_SIGNING_KEY_FILE = missing
    settings.LICENSE_SIGNING_KEY_AUTOGENERATE = False
    signing.clear_key_cache()

    output = run_command(license_file, "--public-key", public_pem)

    assert output.startswith("license file verified")
    assert not missing.exists()


def run_manage_py(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "manage.py", "verify_license_file", *map(str, args)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_exit_status_as_a_real_process(license_file, public_pem, tmp_path):
    good = run_manage_py(license_file, "--public-key", public_pem)
    assert good.returncode == 0, good.stderr
    assert "license file verified" in good.stdout

    bad_file = tmp_path / "tampered.json"
    bad_file.write_bytes(tampered(license_file.read_bytes(), 40))
    bad = run_manage_py(bad_file, "--public-key", public_pem)
    assert bad.returncode != 0
    assert "license file verified" not in bad.stdout
