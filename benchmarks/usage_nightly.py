"""The nightly part of benchmarks/usage.py, run in its child process (Django set up on the
benchmark database): seed, give licenses fresh reports, then time the "check usage" step
beside plain SQL doing the same comparison and inserts, each run rolled back."""

from __future__ import annotations

import time
from datetime import date, timedelta

# isort: split
# The modules beside this one (run as a script, its directory comes first on sys.path).
from common import log

API_PREFIX = "BENCH-API-"

# The tables a run writes (the incidents, their history, the partners' standing and its
# count, the mails).
TOUCHED = (
    "partners_complianceincident",
    "partners_historicalcomplianceincident",
    "partners_partner",
    "licensing_licensetally",
    "licensing_notification",
)


def prepare_nightly(args, day: date) -> dict:
    """Seed (once), then give --reports active licenses a fresh report dated D−1."""
    import random
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from licensing.models import License, UsageReport
    from partners.models import ComplianceIncident, Partner

    call_command("migrate", verbosity=0)
    scale = Partner.objects.filter(name__startswith="Scale Partner ").count()
    if scale == 0:
        started = time.monotonic()
        call_command("seed_scale", partners=args.partners, licenses=args.licenses)
        log(f"seeded in {time.monotonic() - started:.0f} s")
    elif scale != args.partners:
        raise SystemExit(f"{args.db} holds {scale:,} scale partners, not {args.partners:,}")
    ComplianceIncident.objects.exclude(usage_report=None).delete()
    UsageReport.objects.exclude(infrastructure__registration_id__startswith=API_PREFIX).delete()
    rows = list(
        License.objects.filter(state="active", infrastructure__isnull=False)
        .order_by("pk")
        .values_list("infrastructure_id", "policy__kind", "limits", "partner__country")
    )
    rng = random.Random(16)  # noqa: S311 - reproducible figures, no secret
    picked = rng.sample(rows, min(args.reports, len(rows)))
    now, reports = timezone.now(), []
    for infrastructure, kind, limits, country in picked:
        ao_limit = limits.get("max_application_objects") or 5000
        users = rng.randint(5, 90)
        figures = {
            "application_objects": rng.randint(100, int(ao_limit * 0.95)),
            "disk_gb": Decimal(rng.randint(10, 600)) / 100,
            "internal_users": users,
            "external_users": 0 if kind != "TL" else rng.randint(0, 5000),
            "internal_users_by_country": {country: users},
        }
        roll = rng.random()
        if roll < 0.10:  # over a limit
            figures["application_objects"] = int(ao_limit * 1.1) + 1
            figures["internal_users"] = 150
        elif roll < 0.15 and kind != "TL":  # external users on a partner license
            figures["external_users"] = rng.randint(1, 40)
        elif roll < 0.20:  # some users abroad
            other = "BR" if country != "BR" else "PT"
            figures["internal_users_by_country"] = {country: users - 3, other: 3}
        reports.append(
            UsageReport(
                infrastructure_id=infrastructure,
                reported_on=day - timedelta(days=1),
                received_at=now,
                **figures,
            )
        )
    UsageReport.objects.bulk_create(reports, batch_size=2000)
    with connection.cursor() as cursor:
        # Earlier runs' rolled-back rows leave the indexes of the tables a run writes
        # swollen (the mails' to 129 MB for no row): rewritten, every run starts alike.
        cursor.execute(f"VACUUM FULL {', '.join(TOUCHED)}")
        cursor.execute("VACUUM ANALYZE")
    return {
        "licenses": License.objects.count(),
        "active": len(rows),
        "reports": len(reports),
    }


BASELINE_INCIDENTS = """
WITH latest AS (
    SELECT DISTINCT ON (r.infrastructure_id) r.*
    FROM licensing_usagereport r
    WHERE r.reported_on BETWEEN %(since)s AND %(until)s
    ORDER BY r.infrastructure_id, r.reported_on DESC, r.id DESC
), judged AS (
    SELECT l.id AS license_id, l.partner_id, l.region_id, p.kind AS policy, l.limits, pa.country,
           latest.id AS report_id, latest.application_objects, latest.disk_gb,
           latest.internal_users, latest.external_users, latest.internal_users_by_country
    FROM licensing_license l
    JOIN latest ON latest.infrastructure_id = l.infrastructure_id
    JOIN licensing_licensepolicy p ON p.id = l.policy_id
    JOIN partners_partner pa ON pa.id = l.partner_id
    WHERE l.state = 'active'
), found AS (
    SELECT license_id, partner_id, region_id, report_id, 'over_limit' AS kind,
           'Application objects ' || application_objects || ' of '
           || coalesce(limits->>'max_application_objects', '-') || '; disk ' || disk_gb
           || ' GB of ' || coalesce(limits->>'max_disk_gb', '-') || '; internal users '
           || internal_users || ' of ' || coalesce(limits->>'internal_users', '-') AS notes
    FROM judged
    WHERE application_objects > (limits->>'max_application_objects')::bigint
       OR disk_gb > (limits->>'max_disk_gb')::numeric
       OR internal_users > (limits->>'internal_users')::bigint
       OR (policy = 'TL' AND external_users > (limits->>'external_users')::bigint)
    UNION ALL
    SELECT license_id, partner_id, region_id, report_id, 'external_access',
           'External users ' || external_users || ' on a license for internal use only'
    FROM judged WHERE policy IN ('DL', 'IL') AND external_users > 0
    UNION ALL
    SELECT license_id, partner_id, region_id, report_id, 'users_outside_country',
           'Internal users outside ' || country || ': ' || internal_users_by_country::text
    FROM judged
    WHERE policy IN ('DL', 'IL') AND EXISTS (
        SELECT 1 FROM jsonb_each_text(internal_users_by_country) c
        WHERE c.key <> judged.country AND c.value::bigint > 0
    )
)
INSERT INTO partners_complianceincident
    (partner_id, region_id, license_id, kind, opened_on, notes, usage_report_id, resolution)
SELECT f.partner_id, f.region_id, f.license_id, f.kind, %(day)s, f.notes, f.report_id, ''
FROM found f
WHERE NOT EXISTS (
    SELECT 1 FROM partners_complianceincident i
    WHERE i.license_id = f.license_id AND i.kind = f.kind
      AND (i.resolved_on IS NULL OR i.resolved_on > %(day)s OR i.usage_report_id = f.report_id)
)
RETURNING id
"""
BASELINE_HISTORY = """
INSERT INTO partners_historicalcomplianceincident
    (id, kind, opened_on, resolved_on, notes, resolution, partner_id, license_id,
     usage_report_id, resolved_by_id, history_date, history_change_reason, history_type,
     history_user_id)
SELECT id, kind, opened_on, resolved_on, notes, resolution, partner_id, license_id,
       usage_report_id, resolved_by_id, now(), 'opened by the nightly usage check', '+', NULL
FROM partners_complianceincident WHERE id = ANY(%(ids)s)
"""
# The partners of the incidents opened are out of good standing; the step judges each one
# again (standing() names every failing condition), plain SQL appends the one it knows.
BASELINE_STANDING = """
UPDATE partners_partner p
SET standing_good = false, standing_on = %(day)s,
    standing_failing = p.standing_failing || '["open_incident"]'::jsonb
WHERE p.id IN (SELECT partner_id FROM partners_complianceincident WHERE id = ANY(%(ids)s))
"""
BASELINE_MAIL = """
INSERT INTO licensing_notification
    (kind, license_id, partner_id, region_id, recipient, subject, key, template, params,
     created_at, attempts, last_error)
SELECT 'incident_opened', i.license_id, i.partner_id, i.region_id, m.recipient, '',
       'incident_opened:' || i.license_id || ':' || i.id || ':' || lower(m.recipient),
       'incident_opened', jsonb_build_object('incident_id', i.id, 'notes', i.notes), now(), 0, ''
FROM partners_complianceincident i
JOIN partners_partner p ON p.id = i.partner_id
LEFT JOIN auth_user u ON u.id = p.channel_manager_id
CROSS JOIN LATERAL (VALUES (u.email), (%(team)s)) AS m (recipient)
WHERE i.id = ANY(%(ids)s) AND coalesce(m.recipient, '') <> ''
ON CONFLICT (key) DO NOTHING
"""


def measure_nightly(args) -> dict:
    from collections import Counter

    from django.conf import settings
    from django.db import connection, transaction

    from licensing.nightly import system_user
    from licensing.nightly.bulk import Context, old_objects_left_alone
    from licensing.nightly.usage import check_usage

    day = date.fromisoformat(args.day)
    prepared = prepare_nightly(args, day)
    user = system_user()
    queries = [0]

    def count(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            queries[0] += 1
        return execute(sql, params, many, context)

    def step():
        ctx = Context(day=day, counts=Counter(), user=user, say=lambda m: None)
        # As the night runs its steps (licensing/nightly/runner.py).
        with old_objects_left_alone():
            check_usage(ctx)
        return ctx.counts["usage_incidents_opened"]

    def baseline():
        params = {
            "since": day - timedelta(days=7),
            "until": day - timedelta(days=1),
            "day": day,
            "team": settings.LICENSING_TEAM_EMAIL,
        }
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_INCIDENTS, params)
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute(BASELINE_HISTORY, {"ids": ids})
            cursor.execute(BASELINE_STANDING, {**params, "ids": ids})
            cursor.execute(BASELINE_MAIL, {**params, "ids": ids})
        return len(ids)

    results = {}
    for label, work in (("step", step), ("sql", baseline)) * args.repeat:
        with transaction.atomic():
            queries[0] = 0
            started = time.perf_counter()
            with connection.execute_wrapper(count):
                opened = work()
            took = time.perf_counter() - started
            transaction.set_rollback(True)
        # A rolled-back run leaves its rows behind as dead tuples and index entries, which
        # the next run would step over: each run starts from the same tables.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {', '.join(TOUCHED)}")
        entry = results.setdefault(label, {"seconds": [], "queries": 0, "opened": 0})
        entry["seconds"].append(took)
        entry["queries"], entry["opened"] = queries[0], opened
    return {"prepared": prepared, **results}
