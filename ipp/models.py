"""Intellectual Property Protection: applications and where they may be deployed.

A partner's application may run on the infrastructure it was developed in; anywhere else
only with a deployment permission the licensing team granted with the developer's consent.
Runtimes ask the deployment-check API, and every question asked is logged.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from partners.region_keys import region_key

from .choices import CheckStatus, PermissionState


def permission_queue_order() -> list:
    """The licensing team's work order: consented requests, then the other requests,
    then granted permissions, then the rest; oldest request first. The admin orders by it
    and an index of the same expressions serves it, so a first page needs no sort."""
    queue = models.Case(
        # (Lookups in name order: the migration writes them so, and compares them in order.)
        models.When(consent_at__isnull=False, state=PermissionState.REQUESTED, then=0),
        models.When(state=PermissionState.REQUESTED, then=1),
        models.When(state=PermissionState.GRANTED, then=2),
        default=3,
    )
    return [queue.asc(), F("requested_on").asc(), F("id").desc()]


SOURCE_IS_TARGET = "The target must be another infrastructure than the source."
CONSENT_NOT_BY_DEVELOPER = (
    "{contact} is not a contact of {partner}, the partner that owns the source "
    "infrastructure: the developer consents."
)
SOURCE_WITHOUT_OWNER = (
    "The source infrastructure has no owner partner, so no developer can consent."
)


class Application(models.Model):
    """An application a partner developed, identified by the key its runtime reports."""

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    developed_in = models.ForeignKey(
        "licensing.Infrastructure",
        on_delete=models.PROTECT,
        related_name="applications",
        help_text="The infrastructure it is developed on: it may always run there.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Its infrastructure's region, kept in step (ipp.regions): a channel manager's scope.
    region = region_key()  # indexed: application_region_name below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # Natural key of the demo data and of people: "app X of infrastructure Y".
            models.UniqueConstraint(
                fields=["developed_in", "name"],
                name="ipp_application_name_unique_per_infrastructure",
                violation_error_message="This infrastructure already has an application "
                "with this name.",
            )
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="application_name"),
            # A channel manager's applications: counted and listed in order by her region.
            models.Index(fields=["region", "name", "id"], name="application_region_name"),
        ]

    def __str__(self) -> str:
        return self.name


class DeploymentPermission(models.Model):
    """Leave to deploy applications of one infrastructure (the developer's) on another.

    States change only in `ipp.services`; the admin shows them read-only.
    """

    State = PermissionState

    applications = models.ManyToManyField(Application, related_name="deployment_permissions")
    source = models.ForeignKey(
        "licensing.Infrastructure",
        on_delete=models.PROTECT,
        related_name="permissions_out",
        help_text="Where the applications are developed.",
    )
    target = models.ForeignKey(
        "licensing.Infrastructure",
        on_delete=models.PROTECT,
        related_name="permissions_in",
        help_text="Where they are to be deployed.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_on = models.DateField()
    # The developer's consent: a contact of the source infrastructure's owner partner.
    consent_by = models.ForeignKey(
        "partners.Contact",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deployment_consents",
    )
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    state = models.CharField(
        max_length=20, choices=PermissionState.choices, default=PermissionState.REQUESTED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateField(
        null=True, blank=True, help_text="The last day it is valid. Empty: until revoked."
    )
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(
        blank=True, help_text="Why it was refused or revoked, in the licensing team's words."
    )

    # Its source infrastructure's region, kept in step (ipp.regions): a channel manager's
    # scope.
    region = region_key()  # indexed: ipp_perm_region_state below

    history = HistoricalRecords(m2m_fields=[applications], excluded_fields=["region"])

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=F("target")),
                name="ipp_permission_source_not_target",
                violation_error_message=SOURCE_IS_TARGET,
            )
        ]
        indexes = [
            # check_deployment asks "permissions from A's infrastructure to T".
            models.Index(fields=["source", "target", "state"], name="ipp_perm_source_target"),
            # The infrastructure overview lists the permissions into an infrastructure.
            models.Index(fields=["target", "state"], name="ipp_perm_target_state"),
            models.Index(*permission_queue_order(), name="ipp_perm_queue"),
            models.Index(fields=["region", "state"], name="ipp_perm_region_state"),
        ]

    def __str__(self) -> str:
        # "Orders, Billing → ACME-PROD": what may go where. The applications come from a
        # prefetch where a list shows many permissions.
        if self.pk is None:
            return "New deployment permission"
        names = ", ".join(sorted(a.name for a in self.applications.all())) or "No application"
        return f"{names} → {self.target.registration_id or self.target.name}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.source_id and self.target_id and self.source_id == self.target_id:
            errors["target"] = SOURCE_IS_TARGET
        if self.consent_by_id and self.source_id:
            owner_id = self.source.owner_partner_id
            if owner_id is None:
                errors["consent_by"] = SOURCE_WITHOUT_OWNER
            elif self.consent_by.partner_id != owner_id:
                errors["consent_by"] = CONSENT_NOT_BY_DEVELOPER.format(
                    contact=self.consent_by, partner=self.source.owner_partner
                )
        if errors:
            raise ValidationError(errors)

    @property
    def has_consent(self) -> bool:
        return self.consent_by_id is not None and self.consent_at is not None


class DeploymentCheck(models.Model):
    """One question "may application A be deployed on T?" and its answer, as asked.

    Written for every question, refused API calls included: the key and registration id
    are kept as the caller sent them, the foreign keys only when they resolved.
    """

    application = models.ForeignKey(
        Application, on_delete=models.SET_NULL, null=True, blank=True, related_name="checks"
    )
    application_key = models.CharField(max_length=64, blank=True)
    target = models.ForeignKey(
        "licensing.Infrastructure",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deployment_checks",
    )
    target_registration_id = models.CharField(max_length=64, blank=True)
    allowed = models.BooleanField()
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True)
    caller = models.CharField(max_length=100, help_text='e.g. "api token #3", "admin:lena".')
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        choices=CheckStatus.choices,
        help_text="The HTTP status answered, for API calls.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # "Recent checks of an infrastructure" (overview page, list filter).
            models.Index(fields=["target", "-at"], name="ipp_check_target_at"),
            models.Index(fields=["application", "-at"], name="ipp_check_application_at"),
            # The log's order (newest first, then by id) and its date range: a first page
            # read from the index, not every check of the newest second joined and sorted
            # (checks logged in bulk share their time: 4,136 rows for 100 at 200,000).
            models.Index(fields=["-at", "-id"], name="ipp_check_newest"),
        ]

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        return f"{self.application_key or '?'} on {self.target_registration_id or '?'}: {verdict}"


class InfrastructureTokenQuerySet(models.QuerySet):
    def active(self) -> InfrastructureTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class InfrastructureToken(models.Model):
    """The API token an infrastructure's runtime uses to ask the deployment-check API.

    Only the SHA-256 of the token is stored (and never in history); the token itself is
    shown once, when issued. Issuing a new one revokes the previous one.
    """

    infrastructure = models.ForeignKey(
        "licensing.Infrastructure", on_delete=models.PROTECT, related_name="ipp_tokens"
    )
    key_prefix = models.CharField(max_length=8, help_text="The token's first characters.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InfrastructureTokenQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["key_hash"])

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one working token per infrastructure: issuing revokes the previous.
            models.UniqueConstraint(
                fields=["infrastructure"],
                condition=Q(revoked_at__isnull=True),
                name="ipp_token_one_active_per_infrastructure",
            )
        ]

    def __str__(self) -> str:
        return f"API token #{self.pk} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
