"""Tests: SQLite by default, PostgreSQL when DATABASE_URL says so (CI does).

The tests own every other service address they use, whatever the shell exports: the
README's `export CELERY_BROKER_URL=...` (or a CACHE_URL) must not send a test's tasks or
throttle counters to a development Redis.
"""

import os

from django.core.management.utils import get_random_secret_key

from .base import *
from .base import env

DEBUG = False
# A fresh key per test process: nothing signed in a test outlives it.
SECRET_KEY = get_random_secret_key()
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

# Fast hashing: tests log users in many times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Unit tests run tasks inline; the worker integration test starts a real worker on Redis,
# on a database of its own so that it never meets a development queue.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_RESULT_BACKEND = None
# Celery reads these from the environment before the settings: the test process would
# publish to the exported broker while the worker a test starts listens on db 15.
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.pop("CELERY_RESULT_BACKEND", None)
# Each test starts with an empty cache of its own (tests/conftest.py clears it).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LICENSE_SIGNING_KEY_FILE = str(BASE_DIR / "var" / "test-license-signing-key.pem")
LICENSE_SIGNING_KEY_AUTOGENERATE = True

# The dashboard's figures are cached as in production (tests start with an empty cache).
DASHBOARD_CACHE_SECONDS = 600
