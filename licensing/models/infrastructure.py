"""Where a license runs: infrastructures and their environments."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from partners.region_keys import region_key
from partners.validators import no_line_breaks

from ..choices import CLOUD_HOSTINGS, Hosting, LicenseState
from .policies import PlatformRelease

# A license in these states keeps its infrastructure in use (the upgrade report).
LIVE_INFRASTRUCTURE_STATES = [LicenseState.ACTIVE, LicenseState.EXPIRED]


class Infrastructure(models.Model):
    """Where a license runs: a cloud infrastructure we host, or a customer's own servers."""

    name = models.CharField(max_length=200, validators=[no_line_breaks])
    owner_partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="infrastructures",
        db_index=False,  # infrastructure_owner below
    )
    customer_name = models.CharField(max_length=200, blank=True, validators=[no_line_breaks])
    hosting = models.CharField(max_length=20, choices=Hosting.choices)
    platform_release = models.ForeignKey(
        PlatformRelease, on_delete=models.PROTECT, null=True, blank=True
    )
    registration_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="Generated for cloud; entered on the licensing portal for on-premises.",
    )
    registered_on = models.DateField(null=True, blank=True)
    lifetime_url = models.URLField(blank=True)
    # Its owner's region, kept in step (licensing.regions): a channel manager's scope.
    region = region_key()  # indexed: infrastructure_region below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # Registration ids are unique ignoring case; on-premises ones are empty until
            # the customer registers on the portal.
            models.UniqueConstraint(
                Lower("registration_id"),
                condition=~Q(registration_id=""),
                name="infrastructure_registration_id_ci_unique",
                violation_error_message="This registration id is already in use.",
            )
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="infrastructure_name"),
            # With the id: a channel manager's scope of applications and IPP permissions
            # ("infrastructures of her partners") reads this index alone.
            models.Index(fields=["owner_partner"], include=["id"], name="infrastructure_owner"),
            models.Index(fields=["region"], include=["id"], name="infrastructure_region"),
            # Registered ones (the "usage unreported" card), read from the index alone.
            models.Index(
                fields=["id"], condition=~Q(registration_id=""), name="infrastructure_registered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.registration_id}]" if self.registration_id else self.name

    @property
    def is_cloud(self) -> bool:
        return self.hosting in CLOUD_HOSTINGS


class Environment(models.Model):
    """One environment of an infrastructure (Development, Quality, Production, LifeTime)."""

    infrastructure = models.ForeignKey(
        Infrastructure, on_delete=models.CASCADE, related_name="environments"
    )
    name = models.CharField(max_length=50)
    endpoint_url = models.URLField(blank=True)
    # An on-premises slot: the platform server's serial, registered by the partner on the
    # portal, cleared by the licensing team (with a reason kept in history) to move it.
    serial_number = models.CharField(
        max_length=64,
        blank=True,
        help_text="The platform server's serial; empty while the slot is free.",
    )
    registered_on = models.DateField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["infrastructure", "id"]
        constraints = [
            models.UniqueConstraint(fields=["infrastructure", "name"], name="environment_unique"),
            # One server serves one slot: serials are unique ignoring case.
            models.UniqueConstraint(
                Lower("serial_number"),
                condition=~Q(serial_number=""),
                name="environment_serial_ci_unique",
                violation_error_message="This server serial number is already registered.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.infrastructure.name})"
