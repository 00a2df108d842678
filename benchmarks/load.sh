#!/usr/bin/env bash
# Load run: 50 concurrent logged-in users on the dashboard and the license list, for 60 s,
# against gunicorn with 2 workers on 127.0.0.1 only (wrk from Debian: apt-get install wrk).
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_large bash benchmarks/load.sh
#
# Options by environment: USERNAME (default licensing), DURATION (60s), CONNECTIONS (50),
# PORT (8020), CACHE_URL (default Redis database 11, as production shares one cache). Prints wrk's summary with p50/p95/p99 and the error count.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to the PostgreSQL database to load}"
USERNAME=${USERNAME:-licensing} DURATION=${DURATION:-60s} CONNECTIONS=${CONNECTIONS:-50}
PORT=${PORT:-8020}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
export DJANGO_SETTINGS_MODULE=config.settings.local DEBUG=false ALLOWED_HOSTS=127.0.0.1
export CELERY_TASK_ALWAYS_EAGER=true
# The shared cache of production (Redis): the dashboard keeps its figures there.
export CACHE_URL=${CACHE_URL:-rediscache://127.0.0.1:6379/11}

# Dead rows left by rolled-back benchmark runs slow every scan; autovacuum keeps a production
# database clean, so the load starts from a vacuumed one.
psql "$DATABASE_URL" -qc "VACUUM ANALYZE"

# A session for the user, made directly in the database (no login form, no lockout).
DESK_COOKIE=$(.venv/bin/python - "$USERNAME" <<'PY'
import sys, django
django.setup()
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.get(username=sys.argv[1])
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
PY
)
export DESK_COOKIE

.venv/bin/gunicorn config.wsgi:application --workers 2 --bind "127.0.0.1:$PORT" \
  --env DJANGO_SETTINGS_MODULE=config.settings.local --log-level warning &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 30); do curl -s -o /dev/null "http://127.0.0.1:$PORT/admin/login/" && break; sleep 1; done
# Warm both workers, then load.
for _ in 1 2 3 4; do curl -s -o /dev/null -H "Cookie: $DESK_COOKIE" "http://127.0.0.1:$PORT/admin/"; done
echo "load: $CONNECTIONS users, $DURATION, user $USERNAME, gunicorn 2 workers, $(date -u +%FT%TZ)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 30s -s benchmarks/load.lua "http://127.0.0.1:$PORT"
