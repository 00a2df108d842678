"""Terms of one partner never overlap, enforced by the database itself.

PostgreSQL: an exclusion constraint on (partner, daterange) with btree_gist.
SQLite (the zero-setup default): triggers raising an integrity error.
"""

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

FORWARDS = {
    "postgresql": [
        "ALTER TABLE partners_partnershipterm ADD CONSTRAINT partnershipterm_no_overlap "
        "EXCLUDE USING gist (partner_id WITH =, daterange(starts_on, ends_on, '[]') WITH &&)",
    ],
    "sqlite": [
        """CREATE TRIGGER partnershipterm_no_overlap_insert
        BEFORE INSERT ON partners_partnershipterm
        WHEN EXISTS (SELECT 1 FROM partners_partnershipterm t
                     WHERE t.partner_id = NEW.partner_id
                       AND t.starts_on <= NEW.ends_on AND t.ends_on >= NEW.starts_on)
        BEGIN SELECT RAISE(ABORT, 'partnershipterm_no_overlap'); END""",
        """CREATE TRIGGER partnershipterm_no_overlap_update
        BEFORE UPDATE ON partners_partnershipterm
        WHEN EXISTS (SELECT 1 FROM partners_partnershipterm t
                     WHERE t.partner_id = NEW.partner_id AND t.id <> NEW.id
                       AND t.starts_on <= NEW.ends_on AND t.ends_on >= NEW.starts_on)
        BEGIN SELECT RAISE(ABORT, 'partnershipterm_no_overlap'); END""",
    ],
}
BACKWARDS = {
    "postgresql": [
        "ALTER TABLE partners_partnershipterm DROP CONSTRAINT partnershipterm_no_overlap",
    ],
    "sqlite": [
        "DROP TRIGGER partnershipterm_no_overlap_insert",
        "DROP TRIGGER partnershipterm_no_overlap_update",
    ],
}


def forwards(apps, schema_editor):
    for sql in FORWARDS.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for sql in BACKWARDS.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        migrations.RunPython(forwards, backwards),
    ]
