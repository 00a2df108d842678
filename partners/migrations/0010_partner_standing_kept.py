"""Standing kept as data: each partner's standing for today on its row, with the partial
indexes of the partners not in good standing that the dashboard and the list filter read.
Filled for every existing partner by `services.refresh_standing`, the one code that writes it."""

from django.db import migrations, models


def keep_standing(apps, schema_editor):
    # The live function on purpose: standing() is the one rule, and refresh_standing reads
    # only the columns standing() needs (with .only()), which exist from here on.
    from partners.services import refresh_standing

    Partner = apps.get_model("partners", "Partner")
    refresh_standing(Partner.objects.values_list("pk", flat=True))


class Migration(migrations.Migration):
    dependencies = [("partners", "0009_usage_incidents_partner_center")]

    operations = [
        migrations.AddField(
            model_name="partner",
            name="standing_good",
            field=models.BooleanField(
                default=False, editable=False, verbose_name="in good standing"
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="standing_failing",
            field=models.JSONField(
                blank=True, default=list, editable=False, help_text="The failing conditions' keys."
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="standing_on",
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="partner",
            index=models.Index(
                condition=models.Q(("standing_good", False)),
                fields=["name"],
                name="partner_not_good",
            ),
        ),
        migrations.AddIndex(
            model_name="partner",
            index=models.Index(
                condition=models.Q(("standing_good", False)),
                fields=["region", "name"],
                name="partner_not_good_region",
            ),
        ),
        migrations.RunPython(keep_standing, migrations.RunPython.noop, elidable=True),
    ]
