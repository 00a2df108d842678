"""What the platform reports about its use, and the license files handed out."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from ..choices import FileVia
from .infrastructure import Infrastructure
from .license import License


class UsageReport(models.Model):
    """One day's use of an infrastructure, as its platform reported it.

    One per infrastructure and day: a second report for the same day replaces the first
    (history keeps both). The nightly run compares the latest one with the license's limits.
    """

    infrastructure = models.ForeignKey(
        Infrastructure, on_delete=models.CASCADE, related_name="usage_reports"
    )
    reported_on = models.DateField()
    application_objects = models.PositiveIntegerField()
    disk_gb = models.DecimalField(max_digits=10, decimal_places=2)
    internal_users = models.PositiveIntegerField()
    external_users = models.PositiveIntegerField()
    internal_users_by_country = models.JSONField(
        default=dict, blank=True, help_text="Internal users by ISO 3166 alpha-2 country."
    )
    received_at = models.DateTimeField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["-reported_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["infrastructure", "reported_on"],
                name="usage_report_one_per_day",
                violation_error_message="This infrastructure already reported for that day.",
            ),
            models.CheckConstraint(
                condition=models.Q(disk_gb__gte=0),
                name="usage_report_disk_not_negative",
                violation_error_message="Disk use cannot be negative.",
            ),
        ]
        indexes = [
            # The latest report of each infrastructure, and the nightly window by day.
            models.Index(fields=["reported_on", "infrastructure"], name="usage_report_day"),
        ]

    def __str__(self) -> str:
        return f"Usage of {self.infrastructure.name} on {self.reported_on:%Y-%m-%d}"


class LicenseFileIssue(models.Model):
    """A license file handed out: which serial, its digest, when, where and to whom."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="file_issues")
    file_serial = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    issued_at = models.DateTimeField()
    via = models.CharField(max_length=10, choices=FileVia.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["license", "-issued_at"], name="license_file_issue_newest")]

    def __str__(self) -> str:
        return f"File #{self.file_serial} of {self.license_id} ({self.get_via_display().lower()})"
