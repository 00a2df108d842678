import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

from partners.row_counts import by_region


def fill_regions(apps, schema_editor):
    """Each incident gets its partner's region (as partners.regions.fill_regions)."""
    Partner = apps.get_model("partners", "Partner")
    partner_region = Partner.objects.filter(pk=OuterRef("partner_id")).values("region_id")
    Incident = apps.get_model("partners", "ComplianceIncident")
    Incident.objects.update(region_id=Subquery(partner_region))


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0014_row_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="complianceincident",
            name="region",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="partners.region",
            ),
        ),
        migrations.RunPython(fill_regions, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="complianceincident",
            index=models.Index(
                fields=["region", "-opened_on", "-id"], name="incident_region_newest"
            ),
        ),
        by_region(["partners_complianceincident"]),
    ]
