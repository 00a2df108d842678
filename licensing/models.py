"""License policies (the program's cheat sheet, as data), platform releases and licenses."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_comma_separated_integer_list
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Lower
from simple_history.models import HistoricalRecords

from .choices import (
    CLOUD_HOSTINGS,
    LIVE_STATES,
    AttemptOutcome,
    ExtensionReason,
    ExtensionState,
    Hosting,
    LicenseKind,
    LicenseState,
    NotificationKind,
    ProductionUse,
    RunStatus,
)


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


# A license in these states keeps its infrastructure in use (the upgrade report).
LIVE_INFRASTRUCTURE_STATES = [LicenseState.ACTIVE, LicenseState.EXPIRED]


class InfrastructureQuerySet(models.QuerySet):
    def behind(self, release: PlatformRelease) -> InfrastructureQuerySet:
        """Infrastructures of live Demo and Internal licenses on a release older than
        `release`: they need an upgrade."""
        # The few release and policy ids are read first: with literal ids the planner reads
        # the older releases' infrastructures by their index and the live licenses from
        # `license_live_infrastructure` alone, instead of every license and a DISTINCT.
        older = PlatformRelease.objects.filter(released_on__lt=release.released_on)
        policies = LicensePolicy.objects.filter(kind__in=[LicenseKind.DL, LicenseKind.IL])
        live = License.objects.filter(
            infrastructure=models.OuterRef("pk"),
            policy__in=list(policies.values_list("pk", flat=True)),
            state__in=LIVE_INFRASTRUCTURE_STATES,
        )
        return self.filter(platform_release__in=list(older.values_list("pk", flat=True))).filter(
            models.Exists(live)
        )


class Infrastructure(models.Model):
    """Where a license runs: a cloud infrastructure we host, or a customer's own servers."""

    name = models.CharField(max_length=200)
    owner_partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="infrastructures",
        db_index=False,  # infrastructure_owner below
    )
    customer_name = models.CharField(max_length=200, blank=True)
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

    objects = InfrastructureQuerySet.as_manager()
    history = HistoricalRecords()

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

    history = HistoricalRecords()

    class Meta:
        ordering = ["infrastructure", "id"]
        constraints = [
            models.UniqueConstraint(fields=["infrastructure", "name"], name="environment_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.infrastructure.name})"


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
    licensee_name = models.CharField(max_length=200)
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

    objects = LicenseQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["activation_code"])

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


def reminder_params() -> tuple[Cast, Cast]:
    """A reminder's end date and offset (`params`) as text: what the night looks it up by,
    and the expressions of the index it looks them up in."""
    return (
        Cast(KT("params__ends_on"), output_field=models.CharField()),
        Cast(KT("params__days"), output_field=models.CharField()),
    )


class Notification(models.Model):
    """One mail to one recipient, recorded once: its unique key makes every retry a no-op."""

    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    license = models.ForeignKey(
        License, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    partner = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
    )
    recipient = models.EmailField()
    subject = models.CharField(max_length=300, blank=True)
    key = models.CharField(max_length=200, unique=True)
    template = models.CharField(max_length=100, blank=True, help_text="templates/mail/<template>.*")
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="notification_newest"),
            # Was this end date's reminder for this offset sent? (the nightly reminders)
            models.Index(
                models.F("license"),
                *reminder_params(),
                condition=Q(kind=NotificationKind.REMINDER),
                name="notification_reminder_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient}"


class RegistrationAttempt(models.Model):
    """Every use of the licensing portal, kept for the licensing team (never the code)."""

    at = models.DateTimeField(auto_now_add=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    license = models.ForeignKey(
        License, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    registration_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} at {self.at:%Y-%m-%d %H:%M}"


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

    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_on", "-id"]
        indexes = [models.Index(*extension_queue_order(), name="extension_queue")]
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


class NightlyRun(models.Model):
    """One run of the nightly jobs: for which day, how long, and what it did."""

    day = models.DateField(db_index=True)
    part = models.CharField(
        max_length=20, blank=True, help_text="A chunk of a split run, or its global steps."
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Nightly run for {self.day:%Y-%m-%d} ({self.get_status_display().lower()})"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None
