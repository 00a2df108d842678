"""The triggers that keep licensing_licensetally exact (PostgreSQL), and its first counts."""

from django.db import migrations


# --- The triggers that keep licensing_licensetally (PostgreSQL) ---------------------------
#
# Each statement adds to the tally what its rows count now and takes away what they
# counted before, every measure in one upsert ordered by key (so two transactions lock
# the same tally rows in the same order); a change that moves no count writes nothing.
# Statement triggers with transition tables: one call per statement, whatever its rows.

UPSERT = """, written AS (
    INSERT INTO licensing_licensetally AS t (measure, region_id, day, n)
    SELECT measure, region_id, day, sum(n) FROM counted
    GROUP BY measure, region_id, day HAVING sum(n) <> 0
    ORDER BY measure, region_id, day
    ON CONFLICT (measure, region_id, day) DO UPDATE SET n = t.n + EXCLUDED.n
    RETURNING t.id, t.n
)
SELECT array_agg(id) INTO emptied FROM written WHERE n = 0;
-- A count back to zero leaves no row: the table holds what is counted, not every day seen.
IF emptied IS NOT NULL THEN
    DELETE FROM licensing_licensetally WHERE id = ANY(emptied) AND n = 0;
END IF;
"""

# What license rows (with a `sign`, +1 or -1) count, at the current state of the other tables.
LICENSES_COUNT = """
WITH changed_rows AS ({rows}), counted AS (
    SELECT 'ending:' || p.kind AS measure, r.region_id, r.ends_on AS day, r.sign AS n
    FROM changed_rows r JOIN licensing_licensepolicy p ON p.id = r.policy_id
    WHERE r.state = 'active'
    UNION ALL
    SELECT 'awaiting', r.region_id, NULL::date, r.sign
    FROM changed_rows r JOIN licensing_licensepolicy p ON p.id = r.policy_id
    JOIN partners_opportunity o ON o.id = r.opportunity_id
    WHERE r.state = 'active' AND p.kind = 'TL' AND o.status = 'won'
    UNION ALL
    SELECT 'reported', r.region_id,
           (SELECT max(u.reported_on) FROM licensing_usagereport u
            WHERE u.infrastructure_id = r.infrastructure_id),
           r.sign
    FROM changed_rows r JOIN licensing_infrastructure i ON i.id = r.infrastructure_id
    WHERE r.state = 'active' AND i.registration_id <> ''
)
""".rstrip() + UPSERT

# The columns a license's counts depend on: an update that leaves them alone counts nothing.
KEY = "state, region_id, policy_id, ends_on, opportunity_id, infrastructure_id"
CHANGED = f"(o.{KEY.replace(', ', ', o.')}) IS DISTINCT FROM (n.{KEY.replace(', ', ', n.')})"

LICENSE_ROWS = {
    "insert": "SELECT *, 1 AS sign FROM new_rows",
    "delete": "SELECT *, -1 AS sign FROM old_rows",
    "update": (
        f"SELECT o.*, -1 AS sign FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {CHANGED} "
        f"UNION ALL SELECT n.*, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {CHANGED}"
    ),
}

# A trial's deal won or lost: its active trials move in or out of "awaiting".
OPPORTUNITY_UPDATE = """
WITH moved AS (
    SELECT n.id, CASE WHEN n.status = 'won' THEN 1 ELSE -1 END AS sign
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE (o.status = 'won') <> (n.status = 'won')
), counted AS (
    SELECT 'awaiting' AS measure, l.region_id, NULL::date AS day, m.sign AS n
    FROM moved m JOIN licensing_license l ON l.opportunity_id = m.id
    JOIN licensing_licensepolicy p ON p.id = l.policy_id
    WHERE l.state = 'active' AND p.kind = 'TL'
)
""".rstrip() + UPSERT

# An infrastructure registered (or no longer): its active licenses count as reported or not.
INFRASTRUCTURE_UPDATE = """
WITH moved AS (
    SELECT n.id, CASE WHEN n.registration_id <> '' THEN 1 ELSE -1 END AS sign
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE (o.registration_id <> '') <> (n.registration_id <> '')
), counted AS (
    SELECT 'reported' AS measure, l.region_id,
           (SELECT max(u.reported_on) FROM licensing_usagereport u
            WHERE u.infrastructure_id = m.id) AS day,
           m.sign AS n
    FROM moved m JOIN licensing_license l ON l.infrastructure_id = m.id
    WHERE l.state = 'active'
)
""".rstrip() + UPSERT

# Reports written or removed: each infrastructure's latest date before (the reports now,
# less those the statement wrote, plus those it removed or replaced) and after.
REPORTS_CHANGE = """
WITH old_reports AS ({old}), new_reports AS ({new}),
touched AS (
    SELECT infrastructure_id AS id FROM old_reports
    UNION SELECT infrastructure_id FROM new_reports
), dates AS (
    SELECT t.id,
           (SELECT max(d) FROM (
                SELECT u.reported_on AS d FROM licensing_usagereport u
                WHERE u.infrastructure_id = t.id
                  AND u.id NOT IN (SELECT id FROM new_reports)
                UNION ALL
                SELECT o.reported_on FROM old_reports o WHERE o.infrastructure_id = t.id
           ) x) AS was,
           (SELECT max(u.reported_on) FROM licensing_usagereport u
            WHERE u.infrastructure_id = t.id) AS now
    FROM touched t
), counted AS (
    SELECT 'reported' AS measure, l.region_id, d.day, d.sign AS n
    FROM dates m
    JOIN licensing_infrastructure i ON i.id = m.id AND i.registration_id <> ''
    JOIN licensing_license l ON l.infrastructure_id = m.id AND l.state = 'active'
    CROSS JOIN LATERAL (VALUES (m.was, -1), (m.now, 1)) AS d (day, sign)
    WHERE m.was IS DISTINCT FROM m.now
)
""".rstrip() + UPSERT
NO_REPORTS = "SELECT * FROM licensing_usagereport WHERE false"

TRIGGERS = [
    # (table, operation, transition tables, body)
    *(
        (
            "licensing_license",
            operation,
            {"insert": "NEW", "delete": "OLD", "update": "OLD NEW"}[operation],
            LICENSES_COUNT.format(rows=rows),
        )
        for operation, rows in LICENSE_ROWS.items()
    ),
    ("partners_opportunity", "update", "OLD NEW", OPPORTUNITY_UPDATE),
    ("licensing_infrastructure", "update", "OLD NEW", INFRASTRUCTURE_UPDATE),
    (
        "licensing_usagereport",
        "insert",
        "NEW",
        REPORTS_CHANGE.format(old=NO_REPORTS, new="SELECT * FROM new_rows"),
    ),
    (
        "licensing_usagereport",
        "delete",
        "OLD",
        REPORTS_CHANGE.format(old="SELECT * FROM old_rows", new=NO_REPORTS),
    ),
    (
        "licensing_usagereport",
        "update",
        "OLD NEW",
        REPORTS_CHANGE.format(old="SELECT * FROM old_rows", new="SELECT * FROM new_rows"),
    ),
]


def name_of(table, operation):
    return f"{table}_tally_{operation}"


def referencing(tables):
    return " ".join(
        f"{which} TABLE AS {'old_rows' if which == 'OLD' else 'new_rows'}"
        for which in tables.split()
    )


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, operation, tables, body in TRIGGERS:
        name = name_of(table, operation)
        schema_editor.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"DECLARE emptied bigint[];\nBEGIN\n{body}\nRETURN NULL;\nEND\n$$"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {name} AFTER {operation.upper()} ON {table} "
            f"REFERENCING {referencing(tables)} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    # What the licenses count today, from nothing.
    schema_editor.execute("DELETE FROM licensing_licensetally")
    schema_editor.execute(
        "DO $$ DECLARE emptied bigint[]; BEGIN "
        + LICENSES_COUNT.format(rows="SELECT *, 1 AS sign FROM licensing_license")
        + " END $$"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, operation, _, _ in TRIGGERS:
        name = name_of(table, operation)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
    # No longer kept: nothing left that could be read as current.
    schema_editor.execute("DELETE FROM licensing_licensetally")




class Migration(migrations.Migration):

    dependencies = [
        ('licensing', '0024_license_tally'),
        ('partners', '0010_partner_standing_kept'),
    ]

    operations = [migrations.RunPython(create, drop)]
