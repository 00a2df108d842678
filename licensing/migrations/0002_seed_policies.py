"""The program's cheat sheet as LicensePolicy rows (SPEC "licensing"); editable afterwards.

Values the vendor page lost or left open are our assumptions (IL users, TL term, grace,
extension and reminder days); the licensing team changes them in the admin, with history.
"""

from django.db import migrations
from django.utils import timezone

POLICIES = [
    {
        "kind": "DL",
        "name": "Demo License",
        "purpose": "Standard and customized demos, internal education, small components "
        "and accelerators of limited scope.",
        "eligibility": "A partner with a signed and confirmed partnership agreement.",
        "allowed_hostings": "shared_cloud,on_premises",
        "default_hosting": "shared_cloud",
        "environments": "Development,Production",
        "production_use": "no",
        "max_application_objects": 2400,
        "max_disk_gb": 7,
        "internal_users": 100,
        "external_users": None,
        "term_days": None,
        "extension_max_days": 90,
        "extension_max_months": None,
        "issued_by": "Licensing Team",
        "provisioning_business_days": 3,
        "grace_days": 30,
        "reminder_days": "60,30,7",
        "upgrades_allowed": False,
    },
    {
        "kind": "IL",
        "name": "Internal License",
        "purpose": "Internal use and Business Solution development only, non-commercial.",
        "eligibility": "A partner in good standing (Sales or Delivery authorized) whose "
        "contract was renewed.",
        "allowed_hostings": "on_premises",
        "default_hosting": "on_premises",
        "environments": "Development,Quality,Production",
        "production_use": "internal",
        "max_application_objects": None,
        "max_disk_gb": None,
        "internal_users": 100,
        "external_users": None,
        "term_days": None,
        "extension_max_days": 90,
        "extension_max_months": None,
        "issued_by": "Licensing Team",
        "provisioning_business_days": 3,
        "grace_days": 30,
        "reminder_days": "60,30,7",
        "upgrades_allowed": False,
    },
    {
        "kind": "TL",
        "name": "Trial License",
        "purpose": "Proof of concept for a prospect, or a prospective partner's test of the "
        "platform in an enterprise environment.",
        "eligibility": "A prospect, per opportunity in status approved, asked for by a "
        "Solution Architect on the partner's request; or a prospective partner (Licensing Team).",
        "allowed_hostings": "dedicated_cloud,on_premises",
        "default_hosting": "dedicated_cloud",
        "environments": "Development,Production",
        "production_use": "no",
        "max_application_objects": None,
        "max_disk_gb": None,
        "internal_users": 100,
        "external_users": 10000,
        "term_days": 30,
        "extension_max_days": None,
        "extension_max_months": 6,
        "issued_by": "Solution Architect on request; Licensing Team provisions",
        "provisioning_business_days": 3,
        "grace_days": 30,
        "reminder_days": "14,3",
        "upgrades_allowed": False,
    },
]


def seed(apps, schema_editor):
    LicensePolicy = apps.get_model("licensing", "LicensePolicy")
    HistoricalLicensePolicy = apps.get_model("licensing", "HistoricalLicensePolicy")
    now = timezone.now()
    for values in POLICIES:
        policy, created = LicensePolicy.objects.get_or_create(
            kind=values["kind"], defaults=values
        )
        if created:
            # Signals do not fire in migrations: write the first history row ourselves.
            HistoricalLicensePolicy.objects.create(
                id=policy.id,
                history_date=now,
                history_type="+",
                history_change_reason="seeded from the partner program cheat sheet",
                **values,
            )


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
