from django.db import migrations

from partners.roles import sync_groups


class Migration(migrations.Migration):
    """Permissions on usage reports and license file issues."""

    dependencies = [
        ("licensing", "0020_license_year"),
        ("partners", "0009_usage_incidents_partner_center"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
