from django.db import migrations

from partners.roles import sync_groups


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0002_seed_policies"),
        ("partners", "0003_roles"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
