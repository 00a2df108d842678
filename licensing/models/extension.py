"""Extension requests of a license."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from partners.region_keys import region_key

from ..choices import ExtensionReason, ExtensionState
from .license import License


def extension_queue_order() -> list:
    """Requests waiting first, newest first; an index of the same expressions serves it."""
    waiting = models.Case(
        models.When(state=ExtensionState.REQUESTED, then=models.Value(0)), default=models.Value(1)
    )
    return [waiting.asc(), models.F("requested_on").desc(), models.F("id").desc()]


class Extension(models.Model):
    """A request to extend a license: the Extension Policy for DL/IL, the sales cycle for TL."""

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="extensions")
    reason = models.CharField(max_length=30, choices=ExtensionReason.choices)
    opportunity = models.ForeignKey(
        "partners.Opportunity",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The open sales cycle the partnership is re-evaluated on.",
    )
    evaluation = models.TextField(blank=True, help_text="The sales-cycle evaluation (Trial).")
    requested_until = models.DateField(help_text="The new last valid day.")
    state = models.CharField(
        max_length=20, choices=ExtensionState.choices, default=ExtensionState.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_on = models.DateField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    refusal_reason = models.TextField(blank=True)
    # Its license's region, kept in step (licensing.regions): a channel manager's scope.
    region = region_key()  # indexed: extension_region_state below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["-requested_on", "-id"]
        indexes = [
            models.Index(*extension_queue_order(), name="extension_queue"),
            models.Index(fields=["region", "state"], name="extension_region_state"),
        ]
        constraints = [
            # One open request per license at a time.
            models.UniqueConstraint(
                fields=["license"],
                condition=Q(state="requested"),
                name="extension_one_open_per_license",
                violation_error_message="This license already has an extension request waiting.",
            )
        ]

    def __str__(self) -> str:
        return f"Extension of {self.license} to {self.requested_until:%Y-%m-%d}"
