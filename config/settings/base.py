"""Settings shared by every environment; values come from the environment (12-factor)."""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from import_export.formats.base_formats import CSV, XLSX

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local .env file is read when present (never committed: see .env.example).
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_countries",
    "simple_history",
    "axes",
    "rangefilter",
    "import_export",
    "partners",
    "licensing",
    "ipp",
    # Composition of the apps above (dashboard, seed commands): it imports them, never
    # the other way round.
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the input: a NUL byte, a lone surrogate, bytes that are not
    # UTF-8 or an absurdly long value in a query string or a form field is a 400.
    "partners.middleware.InputHygieneMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records request.user as the author of every history row written in a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: turns a locked-out login into a 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Brute force protection of the admin login (django-axes): after AXES_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair waits AXES_COOLOFF_TIME.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Never keep the attempted passwords, nor show them in the admin.
AXES_SENSITIVE_PARAMETERS = ["password", "activation_code", "token"]
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Each request runs in one transaction: a service that fails leaves nothing half-written.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
# Seconds a connection is kept for the next request (production: 60). A new connection
# costs the connect and, on PostgreSQL, the first run of the tally triggers in it
# (licensing.tallies), about 15 ms of planning with cold catalog caches.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# A few indexes carry extra columns (INCLUDE) for PostgreSQL's index-only scans. SQLite has
# no such columns and builds the index without them, which is all a development database
# needs: its models.W040 warning ("non-key columns will be ignored") says nothing to act on.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# One date format on every page (ISO 2026-12-04), see config/formats/en/formats.py.
FORMAT_MODULE_PATH = ["config.formats"]
# Every rule is judged on UTC dates: "today" is the UTC date everywhere.
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="licensing@desk.example.com")
# The licensing team's shared mailbox: late-provisioning alerts and daily reports go here.
LICENSING_TEAM_EMAIL = env("LICENSING_TEAM_EMAIL", default="licensing-team@desk.example.com")

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The one beat schedule: the nightly run at NIGHTLY_RUN_HOUR:NIGHTLY_RUN_MINUTE, UTC.
NIGHTLY_RUN_HOUR = env.int("NIGHTLY_RUN_HOUR", default=2)
NIGHTLY_RUN_MINUTE = env.int("NIGHTLY_RUN_MINUTE", default=0)
# Split the nightly run's license work into this many tasks, for as many workers.
NIGHTLY_CHUNKS = env.int("NIGHTLY_CHUNKS", default=1)
CELERY_BEAT_SCHEDULE = {
    # The outbox: pending mail is sent every few minutes, whatever queued it.
    "deliver-mail": {
        "task": "licensing.tasks.deliver_pending",
        "schedule": env.int("MAIL_DELIVERY_MINUTES", default=5) * 60,
        "options": {"expires": 5 * 60},
    },
    "nightly-run": {
        "task": "licensing.tasks.run_nightly",
        "schedule": crontab(hour=NIGHTLY_RUN_HOUR, minute=NIGHTLY_RUN_MINUTE),
        # A run that could not start within the hour is left to the next night, which
        # catches up everything (ends_on < D) anyway.
        "options": {"expires": 60 * 60},
    },
}

# History rows say who changed what and why; the admin asks for no revert (read-only).
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "config.log_filters.RedactSecrets"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

# Shared cache: the portal's rate limits count here. Development uses local memory;
# production points it at Redis so every web process shares the counters.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# How long the dashboard's figures may stay in that cache; any committed change to the data
# they count replaces them at once (partners/dashboard_cache.py). 0: counted on every visit.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=600)

# Public base URL of the desk, used in mails (the licensing portal link).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Cloud infrastructures get their endpoints under this domain.
CLOUD_DOMAIN = env("CLOUD_DOMAIN", default="cloud.desk.example.com")

# Ed25519 private key (PEM) that signs license files. Never in git: development generates
# one on first use under var/ (ignored); production must name an existing file.
LICENSE_SIGNING_KEY_FILE = env(
    "LICENSE_SIGNING_KEY_FILE", default=str(BASE_DIR / "var" / "license-signing-key.pem")
)
LICENSE_SIGNING_KEY_AUTOGENERATE = False

# Licensing portal: failed activation attempts allowed per client and window.
PORTAL_MAX_FAILURES = env.int("PORTAL_MAX_FAILURES", default=5)
PORTAL_FAILURE_WINDOW_SECONDS = env.int("PORTAL_FAILURE_WINDOW_SECONDS", default=15 * 60)

# Deployment-check API: calls allowed per token and window.
IPP_API_RATE_LIMIT = env.int("IPP_API_RATE_LIMIT", default=60)
IPP_API_RATE_WINDOW_SECONDS = env.int("IPP_API_RATE_WINDOW_SECONDS", default=60)
# Deployment-check calls without a valid token, per client address and window: they write
# nothing to the database (the application log has them), and past this they get 429.
IPP_API_ANONYMOUS_RATE_LIMIT = env.int("IPP_API_ANONYMOUS_RATE_LIMIT", default=10)
IPP_API_ANONYMOUS_RATE_WINDOW_SECONDS = env.int("IPP_API_ANONYMOUS_RATE_WINDOW_SECONDS", default=60)

# The proxies (addresses or networks) allowed to say who the client is in X-Forwarded-For:
# the TLS proxy in front of gunicorn. Empty: REMOTE_ADDR is the client and the header is
# ignored, as it must be when nothing in front of the desk rewrites it. A typo stops start-up.
TRUSTED_PROXIES = [
    str(ipaddress.ip_network(entry, strict=False))
    for entry in env.list("TRUSTED_PROXIES", default=[])
]
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 default, taken now

# Exports (django-import-export, export only): CSV and XLSX, for whoever may view the rows;
# the rows are the changelist's, with its filters and the user's scope.
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
EXPORT_FORMATS = [CSV, XLSX]
