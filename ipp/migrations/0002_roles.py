from django.db import migrations

from partners.roles import sync_groups


class Migration(migrations.Migration):
    """Give the roles their permissions on the IPP models."""

    dependencies = [
        ("ipp", "0001_initial"),
        ("licensing", "0005_roles"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
