"""The partners not in good standing, per region, kept in licensing_licensetally too
(measure `not_good`) by triggers on partners_partner (PostgreSQL)."""

from django.db import migrations

# As in 0025: what the statement's rows count now, less what they counted, in one upsert
# ordered by key; a count back to zero leaves no row.
UPSERT = """, written AS (
    INSERT INTO licensing_licensetally AS t (measure, region_id, day, n)
    SELECT measure, region_id, day, sum(n) FROM counted
    GROUP BY measure, region_id, day HAVING sum(n) <> 0
    ORDER BY measure, region_id, day
    ON CONFLICT (measure, region_id, day) DO UPDATE SET n = t.n + EXCLUDED.n
    RETURNING t.id, t.n
)
SELECT array_agg(id) INTO emptied FROM written WHERE n = 0;
IF emptied IS NOT NULL THEN
    DELETE FROM licensing_licensetally WHERE id = ANY(emptied) AND n = 0;
END IF;
"""

PARTNERS_COUNT = """
WITH changed_rows AS ({rows}), counted AS (
    SELECT 'not_good' AS measure, r.region_id, NULL::date AS day, r.sign AS n
    FROM changed_rows r
    WHERE NOT r.standing_good
)""" + UPSERT

CHANGED = "(o.standing_good, o.region_id) IS DISTINCT FROM (n.standing_good, n.region_id)"
ROWS = {
    "insert": ("NEW", "SELECT *, 1 AS sign FROM new_rows"),
    "delete": ("OLD", "SELECT *, -1 AS sign FROM old_rows"),
    "update": (
        "OLD NEW",
        f"SELECT o.*, -1 AS sign FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {CHANGED} "
        f"UNION ALL SELECT n.*, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {CHANGED}",
    ),
}
TABLE = "partners_partner"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for operation, (tables, rows) in ROWS.items():
        name = f"{TABLE}_tally_{operation}"
        referencing = " ".join(
            f"{which} TABLE AS {'old_rows' if which == 'OLD' else 'new_rows'}"
            for which in tables.split()
        )
        schema_editor.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"DECLARE emptied bigint[];\nBEGIN\n{PARTNERS_COUNT.format(rows=rows)}\n"
            f"RETURN NULL;\nEND\n$$"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {name} AFTER {operation.upper()} ON {TABLE} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    schema_editor.execute("DELETE FROM licensing_licensetally WHERE measure = 'not_good'")
    schema_editor.execute(
        "DO $$ DECLARE emptied bigint[]; BEGIN "
        + PARTNERS_COUNT.format(rows=f"SELECT *, 1 AS sign FROM {TABLE}")
        + " END $$"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for operation in ROWS:
        name = f"{TABLE}_tally_{operation}"
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
    schema_editor.execute("DELETE FROM licensing_licensetally WHERE measure = 'not_good'")


class Migration(migrations.Migration):

    dependencies = [
        ('licensing', '0026_license_tally_day'),
        ('partners', '0010_partner_standing_kept'),
    ]

    operations = [migrations.RunPython(create, drop)]
