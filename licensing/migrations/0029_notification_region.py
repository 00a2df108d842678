import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

from partners.row_counts import by_region


def fill_regions(apps, schema_editor):
    """Each mail about a partner gets its region (as licensing.regions.fill_regions)."""
    Partner = apps.get_model("partners", "Partner")
    partner_region = Partner.objects.filter(pk=OuterRef("partner_id")).values("region_id")
    Notification = apps.get_model("licensing", "Notification")
    Notification.objects.filter(partner__isnull=False).update(region_id=Subquery(partner_region))


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0028_row_counts"),
        ("partners", "0014_row_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
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
            model_name="notification",
            index=models.Index(
                fields=["region", "-created_at", "-id"], name="notification_region_newest"
            ),
        ),
        by_region(["licensing_notification"]),
    ]
