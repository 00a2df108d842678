from django.db import migrations

from partners.roles import sync_groups


class Migration(migrations.Migration):
    """Give the roles their permissions on the license models."""

    dependencies = [
        ("licensing", "0004_licenses"),
        ("partners", "0004_complianceincident_license"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
