"""License policies (the program's cheat sheet, as data) and platform releases."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_comma_separated_integer_list
from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import Hosting, LicenseKind, ProductionUse


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class LicensePolicy(models.Model):
    """What one kind of license allows: limits, environments, term, extension and reminders.

    The licensing team edits these in the admin. A license copies the limits and
    environments at provisioning, so a later edit never changes a live license.
    """

    kind = models.CharField(max_length=2, choices=LicenseKind.choices, unique=True)
    name = models.CharField(max_length=100)
    purpose = models.TextField()
    eligibility = models.TextField(help_text="Who may hold it, in the program's words.")
    allowed_hostings = models.CharField(
        max_length=100, help_text="Comma-separated: shared_cloud, dedicated_cloud, on_premises."
    )
    default_hosting = models.CharField(max_length=20, choices=Hosting.choices)
    environments = models.CharField(
        max_length=200, help_text="Comma-separated environment names, in deployment order."
    )
    production_use = models.CharField(max_length=10, choices=ProductionUse.choices)
    max_application_objects = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no limit."
    )
    max_disk_gb = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    internal_users = models.PositiveIntegerField(null=True, blank=True)
    external_users = models.PositiveIntegerField(null=True, blank=True)
    term_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Fixed length of the license in days. Empty: to the partnership renewal date.",
    )
    extension_max_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Extension Policy: at most this many days past the end."
    )
    extension_max_months = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many calendar months past the original end date, in all.",
    )
    issued_by = models.CharField(max_length=200)
    provisioning_business_days = models.PositiveSmallIntegerField(default=3)
    grace_days = models.PositiveIntegerField(
        default=30, help_text="Days an expired license stays before it is cancelled."
    )
    reminder_days = models.CharField(
        max_length=50,
        validators=[validate_comma_separated_integer_list],
        help_text="Days before the end when reminders go out, e.g. 60,30,7.",
    )
    upgrades_allowed = models.BooleanField(default=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["kind"]
        verbose_name_plural = "license policies"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        errors = {}
        hostings = split_list(self.allowed_hostings)
        unknown = sorted(set(hostings) - set(Hosting.values))
        if unknown:
            errors["allowed_hostings"] = f"Unknown hosting: {', '.join(unknown)}."
        elif self.default_hosting and self.default_hosting not in hostings:
            errors["default_hosting"] = "The default hosting must be one of the allowed ones."
        if not split_list(self.environments):
            errors["environments"] = "Name at least one environment."
        if errors:
            raise ValidationError(errors)

    @property
    def hosting_list(self) -> list[str]:
        return split_list(self.allowed_hostings)

    @property
    def environment_list(self) -> list[str]:
        return split_list(self.environments)

    @property
    def reminder_day_list(self) -> list[int]:
        """Reminder offsets, smallest first."""
        return sorted(int(n) for n in split_list(self.reminder_days))

    def limits(self) -> dict[str, int | None]:
        return {
            "max_application_objects": self.max_application_objects,
            "max_disk_gb": self.max_disk_gb,
            "internal_users": self.internal_users,
            "external_users": self.external_users,
        }


class PlatformRelease(models.Model):
    """A platform version; cloud infrastructures start on the newest stable one."""

    version = models.CharField(max_length=30, unique=True)
    released_on = models.DateField()
    is_stable = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-released_on", "-version"]

    def __str__(self) -> str:
        return self.version if self.is_stable else f"{self.version} (preview)"

    @classmethod
    def latest_stable(cls) -> PlatformRelease | None:
        return cls.objects.filter(is_stable=True).order_by("-released_on", "-id").first()
