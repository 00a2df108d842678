"""How many rows a list holds, as the database keeps it for the admin's unfiltered lists.

A changelist says how many rows it holds, and Django's paginator counts them: a COUNT(*)
that reads every row in scope, the whole table for the licensing team (2,000,000 licenses:
182 ms on every visit) and every row of her regions for a channel manager. The number is
exact without reading them: triggers (PostgreSQL) append to `RowCount` how many rows each
statement inserted or deleted per region, and a row moved to another region moves one; the
sum per table and region is the number of rows, in the transaction of the change.

Changes are appended, never added to a counter row: writers of the same table never wait
for one another's commit, nor deadlock on a counter when two transactions write two tables
in opposite orders. The nightly run folds the day's rows (`fold`), so a count reads a few
rows per region. Not kept on SQLite, where the lists count their rows.
"""

from __future__ import annotations

from django.db import connection, migrations
from django.db.models import Model, OuterRef, Subquery, Sum

from .models import RowCount
from .scoping import RegionScope, carries_region

# The trigger functions (`create_functions`); each app's migrations create the triggers on
# its own tables (`counting`), with the key of the region when the rows carry one.
INSERTED = "partners_rows_inserted"
DELETED = "partners_rows_deleted"
MOVED = "partners_rows_moved"


def kept(model: type[Model], scope: RegionScope) -> int | None:
    """The number of rows of `model` in `scope`, as kept; None when it is not kept (SQLite,
    a table without triggers, a channel manager's rows of a table without a region key)."""
    if connection.vendor != "postgresql":
        return None
    rows = RowCount.objects.filter(table_name=model._meta.db_table)
    if not scope.everything:
        if not carries_region(model):
            return None
        rows = rows.filter(region_id__in=scope.regions)
    return rows.aggregate(n=Sum("n"))["n"]


def kept_per_region(model: type[Model]) -> Subquery | None:
    """The number of rows of `model` (which carries a region) in each region, as kept, for
    an annotation of regions (`OuterRef("pk")`); None when it is not kept (SQLite)."""
    if connection.vendor != "postgresql":
        return None
    return Subquery(
        RowCount.objects.filter(table_name=model._meta.db_table, region_id=OuterRef("pk"))
        .order_by()
        .values("region_id")
        .annotate(n=Sum("n"))
        .values("n")
    )


def fold() -> int:
    """One row per table and region, their sum (none when it is zero), in one statement:
    the rows read are deleted, rows appended meanwhile are left to the next fold. Returns
    how many rows were folded (none on SQLite, where nothing is kept)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH gone AS (DELETE FROM partners_rowcount RETURNING table_name, region_id, n), "
            "kept AS (INSERT INTO partners_rowcount (table_name, region_id, n) "
            "SELECT table_name, region_id, sum(n) FROM gone GROUP BY table_name, region_id "
            "HAVING sum(n) <> 0) SELECT count(*) FROM gone"
        )
        return cursor.fetchone()[0]


# --- the triggers, created by the migrations of the apps that own the tables --------------

FUNCTIONS = {
    # One change per region and statement (the rows of a statement may be of many regions).
    INSERTED: "INSERT INTO partners_rowcount (table_name, region_id, n) "
    "SELECT TG_TABLE_NAME, {region}, count(*) FROM new_rows {group}",
    DELETED: "INSERT INTO partners_rowcount (table_name, region_id, n) "
    "SELECT TG_TABLE_NAME, {region}, -count(*) FROM old_rows {group}",
}


def create_functions(schema_editor) -> None:
    """The trigger functions, with and without a region key (partners' migration)."""
    for name, body in FUNCTIONS.items():
        for suffix, region, group in (
            ("", "region_id", "GROUP BY region_id"),
            ("_anywhere", "NULL::integer", "HAVING count(*) > 0"),
        ):
            schema_editor.execute(
                f"CREATE OR REPLACE FUNCTION {name}{suffix}() RETURNS trigger "
                f"LANGUAGE plpgsql AS $$ BEGIN {body.format(region=region, group=group)}; "
                "RETURN NULL; END $$"
            )
    # A row whose region changes (its partner moved): rare, one row at a time.
    schema_editor.execute(
        f"CREATE OR REPLACE FUNCTION {MOVED}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608 - constant names
        "INSERT INTO partners_rowcount (table_name, region_id, n) "
        "VALUES (TG_TABLE_NAME, OLD.region_id, -1), (TG_TABLE_NAME, NEW.region_id, 1); "
        "RETURN NULL; END $$"
    )


def create_triggers(schema_editor, table: str, *, region: bool) -> None:
    """Count the rows of `table` from now on, starting from the rows it holds."""
    if schema_editor.connection.vendor != "postgresql":
        return
    suffix = "" if region else "_anywhere"
    for name, when, rows in ((INSERTED, "INSERT", "NEW"), (DELETED, "DELETE", "OLD")):
        schema_editor.execute(
            f"CREATE TRIGGER {table}_{name.rsplit('_', 1)[1]} AFTER {when} ON {table} "
            f"REFERENCING {rows} TABLE AS {rows.lower()}_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}{suffix}()"
        )
    if region:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_moved AFTER UPDATE OF region_id ON {table} FOR EACH ROW "
            "WHEN (OLD.region_id IS DISTINCT FROM NEW.region_id) "
            f"EXECUTE FUNCTION {MOVED}()"
        )
    key = "region_id" if region else "NULL::integer"
    schema_editor.execute("DELETE FROM partners_rowcount WHERE table_name = %s", [table])
    schema_editor.execute(
        "INSERT INTO partners_rowcount (table_name, region_id, n) "  # noqa: S608 - own tables
        f"SELECT %s, {key}, count(*) FROM {schema_editor.quote_name(table)} GROUP BY 2",
        [table],
    )


def drop_triggers(schema_editor, table: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for which in ("inserted", "deleted", "moved"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{which} ON {table}")
    schema_editor.execute("DELETE FROM partners_rowcount WHERE table_name = %s", [table])


def counting(tables: dict[str, bool], *, functions: bool = False) -> migrations.RunPython:
    """A migration's operation: count the rows of `tables` ({table: carries a region key});
    with `functions`, create the trigger functions first (partners' migration)."""

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if functions:
            create_functions(schema_editor)
        for table, region in tables.items():
            create_triggers(schema_editor, table, region=region)

    def backward(apps, schema_editor):
        for table in tables:
            drop_triggers(schema_editor, table)
        if functions and schema_editor.connection.vendor == "postgresql":
            for name in (*FUNCTIONS, MOVED):
                for suffix in ("", "_anywhere") if name in FUNCTIONS else ("",):
                    schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}{suffix}()")

    return migrations.RunPython(forward, backward)


def by_region(tables: list[str]) -> migrations.RunPython:
    """A migration's operation: count the rows of `tables`, counted as a whole until now, per
    region, once their rows carry a region key (and back)."""

    def recount(region: bool):
        def run(apps, schema_editor):
            for table in tables:
                drop_triggers(schema_editor, table)
                create_triggers(schema_editor, table, region=region)

        return run

    return migrations.RunPython(recount(region=True), recount(region=False))
