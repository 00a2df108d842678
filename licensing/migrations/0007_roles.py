from django.db import migrations

from partners.roles import sync_groups


class Migration(migrations.Migration):
    """Permissions on extensions and nightly runs."""

    dependencies = [("licensing", "0006_extensions_nightly_runs")]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
