"""What the desk records as it works: mail sent, portal attempts, nightly runs."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from simple_history.models import HistoricalRecords

from partners.region_keys import region_key

from ..choices import AttemptOutcome, NotificationKind, RunStatus
from .license import License


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
    # The outbox (licensing.outbox): pending until sent; a transient error leaves it pending
    # with a later next_attempt_at, a permanent one (or the last attempt) sets failed_at.
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # Its partner's region, kept in step (licensing.regions): a channel manager's mails are
    # read newest first from one index of her regions, and counted there. None for the
    # licensing team's own mails (no partner), which no channel manager lists.
    region = region_key()  # indexed: notification_region_newest below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="notification_newest"),
            # A channel manager's: her regions' first page and their count, from the index.
            models.Index(
                fields=["region", "-created_at", "-id"], name="notification_region_newest"
            ),
            # The outbox's work: the pending rows, oldest first (few beside the sent ones).
            models.Index(
                fields=["id"],
                condition=Q(sent_at__isnull=True, failed_at__isnull=True),
                name="notification_pending",
            ),
            # Failed mail, for the dashboard and the list's filter (a handful at most).
            models.Index(
                fields=["id"],
                condition=Q(sent_at__isnull=True, failed_at__isnull=False),
                name="notification_failed",
            ),
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
