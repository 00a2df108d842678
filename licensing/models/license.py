"""Licenses through their states, and the queue the licensing team works in."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from partners.region_keys import region_key
from partners.validators import no_line_breaks

from ..choices import CLOUD_HOSTINGS, LIVE_STATES, Hosting, LicenseKind, LicenseState
from .infrastructure import LIVE_INFRASTRUCTURE_STATES, Infrastructure
from .policies import LicensePolicy


def license_queue_order() -> list:
    """The licensing team's work order: requests, then approvals by deadline, then the
    rest, newest first. The admin orders by it and an index of the same expressions
    serves it, so the first page of 200,000 licenses needs no sort."""
    queue = models.Case(
        models.When(state=LicenseState.REQUESTED, then=models.Value(0)),
        models.When(state=LicenseState.APPROVED, then=models.Value(1)),
        default=models.Value(2),
    )
    return [
        queue.asc(),
        models.F("provisioning_due_on").asc(),
        models.F("id").desc(),
    ]


def awaiting_conversion_q() -> Q:
    """Active trials whose deal is won: waiting for the architect's validation."""
    return Q(policy__kind=LicenseKind.TL, state=LicenseState.ACTIVE, opportunity__status="won")


def provisioning_overdue_q(on: date) -> Q:
    """Approved but not provisioned after the deadline day."""
    return Q(state=LicenseState.APPROVED, provisioning_due_on__lt=on)


class LicenseQuerySet(models.QuerySet):
    def live(self) -> LicenseQuerySet:
        return self.filter(state__in=LIVE_STATES)

    def awaiting_conversion(self) -> LicenseQuerySet:
        return self.filter(awaiting_conversion_q())

    def provisioning_overdue(self, on: date) -> LicenseQuerySet:
        return self.filter(provisioning_overdue_q(on))


class License(models.Model):
    """A license of one policy for a partner (or its prospect), through its states.

    States change only in `licensing.services`; the admin shows them read-only.
    """

    State = LicenseState

    policy = models.ForeignKey(LicensePolicy, on_delete=models.PROTECT, related_name="licenses")
    partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        related_name="licenses",
        # The (partner, state) index below serves every lookup by partner; a second index
        # on the column alone made the planner pick it and filter the states row by row.
        db_index=False,
    )
    opportunity = models.ForeignKey(
        "partners.Opportunity",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="licenses",
    )
    licensee_name = models.CharField(max_length=200, validators=[no_line_breaks])
    hosting = models.CharField(max_length=20, choices=Hosting.choices)
    infrastructure = models.ForeignKey(
        Infrastructure, on_delete=models.PROTECT, null=True, blank=True, related_name="licenses"
    )
    state = models.CharField(
        max_length=20, choices=LicenseState.choices, default=LicenseState.REQUESTED
    )
    state_reason = models.TextField(
        blank=True, help_text="Why it was refused or cancelled, in the licensing team's words."
    )
    # Copied from the policy at provisioning: editing the policy never changes a live license.
    environment_names = models.CharField(max_length=200, blank=True)
    limits = models.JSONField(default=dict, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_on = models.DateField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_on = models.DateField(null=True, blank=True)
    provisioning_due_on = models.DateField(null=True, blank=True)
    provisioning_overdue_since = models.DateField(null=True, blank=True)
    provisioned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    provisioned_at = models.DateTimeField(null=True, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True, help_text="The last valid day.")
    original_ends_on = models.DateField(null=True, blank=True)
    expired_on = models.DateField(null=True, blank=True)
    cancelled_on = models.DateField(null=True, blank=True)
    conversion_validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    converted_on = models.DateField(null=True, blank=True)

    # A secret: never in history, lists or logs; shown once to the licensing team.
    activation_code = models.CharField(max_length=40, blank=True, editable=False)
    activation_code_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Raised by each reissue: what makes the reissue mail one event (never the code).
    activation_code_sequence = models.PositiveSmallIntegerField(default=1, editable=False)

    # The license file: its serial grows each time what the file says changes, and the
    # digest of what the last file said tells whether it has (see services.files).
    file_serial = models.PositiveIntegerField(default=0, editable=False)
    file_fingerprint = models.CharField(max_length=64, blank=True, editable=False)

    # Its partner's region, kept in step (licensing.regions): a channel manager's licenses
    # and the dashboard's counts of them are read by her regions from one index.
    region = region_key()  # indexed: license_region_state below

    objects = LicenseQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["activation_code", "region"])

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["activation_code"],
                condition=~Q(activation_code=""),
                name="license_activation_code_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "provisioning_due_on"], name="license_state_due"),
            # Also covers the dashboard's counts by end date, kind, (for a channel manager)
            # partner, and the won opportunities of active trials, read from the index alone.
            models.Index(
                fields=["state", "ends_on"],
                include=["policy", "partner", "opportunity"],
                name="license_state_ends_cover",
            ),
            # The nightly cancellation and reactivation: expired licenses by expiry date.
            models.Index(fields=["state", "expired_on"], name="license_state_expired"),
            # The daily upgrade report: which infrastructures hold a live license.
            models.Index(
                fields=["infrastructure", "policy"],
                condition=models.Q(state__in=LIVE_INFRASTRUCTURE_STATES),
                name="license_live_infrastructure",
            ),
            # Carries the id: a channel manager's scope ("licenses of her partners") and
            # the eligibility checks read this index alone, not each license row.
            models.Index(
                fields=["partner", "state"], include=["id"], name="license_partner_state_id"
            ),
            models.Index(*license_queue_order(), name="license_queue"),
            # A channel manager's scope by region: her queues (requested, approved by
            # deadline), the active licenses by end date and kind, read from the index alone.
            models.Index(
                fields=["region", "state", "ends_on"],
                include=["policy", "provisioning_due_on", "opportunity"],
                name="license_region_state",
            ),
            # The "usage unreported" card: active licenses by infrastructure (everyone's, and a
            # channel manager's by region), merged with the registered infrastructures and
            # the window's reports from indexes alone.
            models.Index(
                fields=["infrastructure"],
                condition=Q(state=LicenseState.ACTIVE),
                name="license_active_infrastructure",
            ),
            models.Index(
                fields=["region", "infrastructure"],
                condition=Q(state=LicenseState.ACTIVE),
                name="license_region_active_infra",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy.kind}-{self.pk} {self.licensee_name}"

    @property
    def kind(self) -> str:
        return self.policy.kind

    @property
    def is_cloud(self) -> bool:
        return self.hosting in CLOUD_HOSTINGS

    @property
    def masked_activation_code(self) -> str:
        if not self.activation_code:
            return "—"
        return "••••-••••-••••-" + self.activation_code[-4:]
