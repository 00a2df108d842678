from django.db import migrations

from partners.roles import sync_groups


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0002_terms_never_overlap"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
