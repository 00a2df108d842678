"""The four roles of the desk as auth Groups, and their model permissions.

Data migrations call `sync_groups` whenever an app adds models, so every database, fresh or
migrated, has exactly these permissions; `manage.py sync_roles` does the same by hand.
Models named here that do not exist yet are skipped until the migration that adds them.
"""

from __future__ import annotations

CHANNEL_MANAGER = "Regional Channel Manager"
LICENSING_TEAM = "Licensing Team"
SOLUTION_ARCHITECT = "Solution Architect"
AUDITOR = "Auditor"

ROLES = (CHANNEL_MANAGER, LICENSING_TEAM, SOLUTION_ARCHITECT, AUDITOR)
APPS = ("partners", "licensing", "ipp")

ALL = ("view", "add", "change", "delete")
# Logs and sent mail are evidence: nobody edits or deletes them, the licensing team included.
LOGS = (
    "licensing.notification",
    "licensing.registrationattempt",
    "licensing.nightlyrun",
    "ipp.deploymentcheck",
    # What the platform reported and which license files were handed out: as received.
    "licensing.usagereport",
    "licensing.licensefileissue",
)

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    CHANNEL_MANAGER: {
        "partners.region": ("view",),
        "partners.partner": ("view", "add", "change"),
        "partners.contact": ALL,
        "partners.partnershipterm": ("view", "add", "change"),
        "partners.complianceincident": ("view",),
        "partners.opportunity": ("view", "add", "change"),
        "licensing.licensepolicy": ("view",),
        "licensing.platformrelease": ("view",),
        "licensing.license": ("view", "add"),
        "licensing.extension": ("view", "add"),
        "licensing.infrastructure": ("view",),
        "licensing.environment": ("view",),
        "licensing.notification": ("view",),
        "licensing.usagereport": ("view",),
        "licensing.licensefileissue": ("view",),
        "ipp.application": ("view", "add"),
        # add: ask for a permission; change: record the developer's consent on it.
        "ipp.deploymentpermission": ("view", "add", "change"),
    },
    SOLUTION_ARCHITECT: {
        "partners.region": ("view",),
        "partners.partner": ("view",),
        "partners.contact": ("view",),
        "partners.opportunity": ("view",),
        "licensing.licensepolicy": ("view",),
        "licensing.platformrelease": ("view",),
        "licensing.license": ("view", "add", "change"),
        "licensing.extension": ("view", "add", "change"),
        "licensing.infrastructure": ("view",),
        "licensing.environment": ("view",),
        "licensing.notification": ("view",),
        "licensing.usagereport": ("view",),
        "licensing.licensefileissue": ("view",),
    },
    # LICENSING_TEAM and AUDITOR are computed from every model of APPS, see expected_codenames.
}


def expected_codenames(role: str, models: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """(app_label, codename) pairs the role should hold, given the (app_label, model) pairs."""
    wanted: set[tuple[str, str]] = set()
    for app_label, model in models:
        historical = model.startswith("historical")
        label = f"{app_label}.{model}"
        if role == AUDITOR:
            actions: tuple[str, ...] = ("view",)
        elif role == LICENSING_TEAM:
            actions = ("view",) if historical or label in LOGS else ALL
        else:
            actions = ROLE_PERMISSIONS[role].get(label, ())
        wanted.update((app_label, f"{action}_{model}") for action in actions)
    if role == AUDITOR:
        wanted.update({("auth", "view_user"), ("auth", "view_group")})
    return wanted


def sync_groups(apps, schema_editor=None) -> None:
    """Create the Groups and give each exactly its permissions (idempotent)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; create them now so this data
    # migration can assign them on a fresh database.
    for app_config in apps.get_app_configs():
        # Migration states' app configs have no models module, which create_permissions
        # would take for "no models": lend one for the call, then put back what was there.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    models = list(ContentType.objects.filter(app_label__in=APPS).values_list("app_label", "model"))
    perms = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.select_related("content_type")
    }
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [perms[key] for key in expected_codenames(role, models) if key in perms]
        group.permissions.set(wanted)
