"""Development: SQLite and console mail by default; no Redis needed."""

from .base import *
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# A fixed key for development only; production.py refuses to start without a real one.
SECRET_KEY = env("SECRET_KEY", default="django-insecure-dev-only-key-not-for-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# Without a broker configured, Celery tasks run inline (after the transaction commits,
# since every task is queued with transaction.on_commit). Set CELERY_BROKER_URL to use Redis.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default="CELERY_BROKER_URL" not in env.ENVIRON
)

LICENSE_SIGNING_KEY_AUTOGENERATE = True

# Without CACHE_URL each process has its own cache, which a nightly run started from a shell
# could not refresh: the dashboard counts on every visit (the demo data is small).
DASHBOARD_CACHE_SECONDS = env.int(
    "DASHBOARD_CACHE_SECONDS", default=600 if "CACHE_URL" in env.ENVIRON else 0
)
