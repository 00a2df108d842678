"""Production: every secret and the database come from the environment, with no default."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import REDIS_URL, env

DEBUG = False


def _required(name: str) -> str:
    try:
        return env(name)
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            f"{name} must be set in the environment for production (see .env.example)."
        ) from None


SECRET_KEY = _required("SECRET_KEY")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("SECRET_KEY is too weak: use 50 or more random characters.")
DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CACHES = {"default": env.cache("CACHE_URL", default=REDIS_URL.replace("redis://", "rediscache://"))}
LICENSE_SIGNING_KEY_FILE = _required("LICENSE_SIGNING_KEY_FILE")
if not Path(LICENSE_SIGNING_KEY_FILE).is_file():
    raise ImproperlyConfigured(
        f"LICENSE_SIGNING_KEY_FILE names {LICENSE_SIGNING_KEY_FILE}, which is not a file: "
        "install the Ed25519 license signing key (PEM) there."
    )
LICENSE_SIGNING_KEY_AUTOGENERATE = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
