"""Production settings refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k" * 20 + "-prod-key-with-enough-entropy-for-the-check-0123456789"


SECRETS = ("SECRET_KEY", "DATABASE_URL", "LICENSE_SIGNING_KEY_FILE")


def load_production(**env):
    environment = {k: v for k, v in os.environ.items() if k not in SECRETS}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_to_start_without_secret_key():
    result = load_production(
        DATABASE_URL="postgres://u@localhost/db", ALLOWED_HOSTS="desk.example.com"
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment for production" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = load_production(
        SECRET_KEY="short",
        DATABASE_URL="postgres://u@localhost/db",
        ALLOWED_HOSTS="desk.example.com",
    )
    assert "SECRET_KEY is too weak" in result.stderr


def test_production_refuses_to_start_without_database_url():
    result = load_production(SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="desk.example.com")
    assert result.returncode != 0
    assert "DATABASE_URL must be set" in result.stderr


def test_production_refuses_to_start_without_the_license_signing_key(tmp_path):
    common = {
        "SECRET_KEY": STRONG_KEY,
        "DATABASE_URL": "postgres://u@localhost/db",
        "ALLOWED_HOSTS": "desk.example.com",
    }
    result = load_production(**common)
    assert "LICENSE_SIGNING_KEY_FILE must be set" in result.stderr
    result = load_production(**common, LICENSE_SIGNING_KEY_FILE=str(tmp_path / "missing.pem"))
    assert result.returncode != 0
    assert "which is not a file" in result.stderr


def test_production_starts_with_its_settings(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("the file must exist at start-up; it is parsed when a license is signed")
    result = load_production(
        SECRET_KEY=STRONG_KEY,
        DATABASE_URL="postgres://u@localhost/db",
        ALLOWED_HOSTS="desk.example.com",
        LICENSE_SIGNING_KEY_FILE=str(key),
    )
    assert result.returncode == 0, result.stderr


def test_the_tests_own_their_broker_and_cache_whatever_the_shell_exports():
    # CI exports the README's CELERY_BROKER_URL and CACHE_URL: a test publishing to the
    # exported broker while its worker listens on the test one would wait forever.
    from django.conf import settings

    from config.celery import app

    assert "CELERY_BROKER_URL" not in os.environ
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
