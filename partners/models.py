"""Partners, their agreements and what decides whether they are in good standing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from .choices import ContactRole, IncidentKind, OpportunityStatus, PartnerStatus, RevokedBy
from .region_keys import region_key
from .validators import no_line_breaks

TERMS_OVERLAP = "This term overlaps the term {other} of the same partner: terms may not overlap."
TERM_TOO_LONG = "A partnership term lasts one year at most (ends on {latest} at the latest)."
TERM_ENDS_BEFORE_START = "The term cannot end before it starts."
FEE_NEGATIVE = "A partnership fee cannot be negative (a waived fee is 0, with 'fee waived')."
REVOKED_BY_REQUIRED = "Say who revoked the term."
REVOKED_BY_WITHOUT_DATE = "Give the revocation date, or leave 'revoked by' empty."
CM_NOT_OF_REGION = "{user} is not a channel manager of {region}: add them to the region first."


class Region(models.Model):
    """A sales region; its channel managers keep the records of its partners."""

    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=100, unique=True, validators=[no_line_breaks])
    channel_managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="managed_regions"
    )

    history = HistoricalRecords(m2m_fields=[channel_managers])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerQuerySet(models.QuerySet):
    def in_good_standing(self, on: date) -> PartnerQuerySet:
        """Partners meeting every good-standing condition on `on` (see services.standing)."""
        return self.annotate(_good=good_standing_expression(on)).filter(_good=True)

    def not_in_good_standing(self, on: date) -> PartnerQuerySet:
        return self.annotate(_good=good_standing_expression(on)).filter(_good=False)

    def kept_in_good_standing(self, good: bool = True) -> PartnerQuerySet:
        """By the standing kept on the row: today's answer (see Partner.standing_good)."""
        return self.filter(standing_good=good)

    def with_standing_data(self) -> PartnerQuerySet:
        """Everything standing() and renewal_date() read, in two extra queries for any size."""
        return self.prefetch_related("terms", "incidents")


def covering_term_q(on: date, prefix: str = "") -> Q:
    """A term whose dates cover `on` (Partner.term_covering's condition)."""
    return Q(**{f"{prefix}starts_on__lte": on, f"{prefix}ends_on__gte": on})


def term_covering(terms: Iterable[PartnershipTerm], on: date) -> PartnershipTerm | None:
    """The first of `terms` whose dates cover `on`, in Python (`covering_term_q` in SQL)."""
    return next((t for t in terms if t.starts_on <= on <= t.ends_on), None)


def good_term_q(on: date, prefix: str = "") -> Q:
    """A signed, unrevoked term covering `on` whose fee is confirmed or waived."""
    p = prefix
    return (
        covering_term_q(on, p)
        & Q(**{f"{p}signed_on__lte": on})
        & (Q(**{f"{p}revoked_on__isnull": True}) | Q(**{f"{p}revoked_on__gt": on}))
        & (Q(**{f"{p}fee_waived": True}) | Q(**{f"{p}fee_confirmed_on__lte": on}))
    )


def open_incident_q(on: date) -> Q:
    return Q(opened_on__lte=on) & (Q(resolved_on__isnull=True) | Q(resolved_on__gt=on))


def authorized_q(on: date) -> Q:
    return Q(sales_authorized_on__lte=on) | Q(delivery_authorized_on__lte=on)


def good_standing_expression(on: date) -> models.Expression:
    good_term = PartnershipTerm.objects.filter(good_term_q(on), partner=OuterRef("pk"))
    open_incident = ComplianceIncident.objects.filter(open_incident_q(on), partner=OuterRef("pk"))
    # CASE, not the bare condition: with an authorization date NULL the condition is SQL
    # NULL, which neither "= true" nor "= false" matches; the partner must land in one.
    return models.Case(
        models.When(Exists(good_term) & ~Exists(open_incident) & authorized_q(on), then=True),
        default=False,
        output_field=models.BooleanField(),
    )


class Partner(models.Model):
    """A company in the partner program (or a prospective one testing the platform)."""

    name = models.CharField(max_length=200, unique=True, validators=[no_line_breaks])
    status = models.CharField(
        max_length=20, choices=PartnerStatus.choices, default=PartnerStatus.ACTIVE
    )
    country = CountryField(help_text="Where the partner is registered; its users must be there.")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="partners")
    channel_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="managed_partners",
    )
    sales_authorized_on = models.DateField(null=True, blank=True)
    delivery_authorized_on = models.DateField(null=True, blank=True)
    # Standing kept as data: `services.standing(self, on=standing_on)`, refreshed in the
    # transaction of every change that can move it and by the nightly run for the calendar's
    # (`services.refresh_standing`). Lists, the dashboard and IL eligibility read these
    # instead of judging every partner's terms and incidents on each visit.
    standing_good = models.BooleanField("in good standing", default=False, editable=False)
    standing_failing = models.JSONField(
        default=list, blank=True, editable=False, help_text="The failing conditions' keys."
    )
    standing_on = models.DateField(null=True, blank=True, editable=False)

    objects = PartnerQuerySet.as_manager()
    # The kept standing is derived: its causes are in the history of the partner, its terms
    # and its incidents, so a refresh writes no history row.
    history = HistoricalRecords(
        excluded_fields=["standing_good", "standing_failing", "standing_on"]
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["region", "status"], name="partner_region_status"),
            # The partners not in good standing, in the list's order: the dashboard's card
            # (everyone's, and a channel manager's regions) reads them and nothing else.
            models.Index(
                fields=["name"], condition=Q(standing_good=False), name="partner_not_good"
            ),
            models.Index(
                fields=["region", "name"],
                condition=Q(standing_good=False),
                name="partner_not_good_region",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.channel_manager_id
            and self.region_id
            and not self.region.channel_managers.filter(pk=self.channel_manager_id).exists()
        ):
            raise ValidationError(
                {
                    "channel_manager": CM_NOT_OF_REGION.format(
                        user=self.channel_manager, region=self.region
                    )
                }
            )

    def is_authorized(self, on: date) -> bool:
        """Sales or Delivery authorized: either date set and not after `on`."""
        return any(
            d is not None and d <= on
            for d in (self.sales_authorized_on, self.delivery_authorized_on)
        )

    def term_covering(self, on: date) -> PartnershipTerm | None:
        # Reads the prefetched terms when there are some (admin lists), else one query.
        return term_covering(self.terms.all(), on)

    def renewal_date(self, on: date) -> date | None:
        """The end of the term covering `on`: the date DL and IL licenses renew on."""
        term = self.term_covering(on)
        return term.ends_on if term else None


class Contact(models.Model):
    """A partner's financial or technical contact; both receive onboarding mail."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contacts")
    role = models.CharField(max_length=20, choices=ContactRole.choices)
    name = models.CharField(max_length=200, validators=[no_line_breaks])
    email = models.EmailField()
    # Its partner's region, kept in step (partners.regions): a channel manager's contacts are
    # found and counted from one index of her regions, not through her partners.
    region = region_key()  # indexed: contact_region below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        # By the partner's id, not "partner": that orders by the partner's own ordering, a
        # join to partners in every prefetch of a partner's contacts. The list sorts by name.
        ordering = ["partner_id", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "role"],
                name="contact_one_per_role",
                violation_error_message="This partner already has a contact with this role.",
            )
        ]
        indexes = [models.Index(fields=["region"], name="contact_region")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()}, {self.partner})"


class PartnershipTerm(models.Model):
    """One year of partnership agreement; terms of one partner never overlap."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="terms")
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="Last day of the term: the partner's renewal date.")
    signed_on = models.DateField(null=True, blank=True)
    revoked_on = models.DateField(null=True, blank=True)
    revoked_by = models.CharField(
        max_length=10, choices=RevokedBy.choices, blank=True, default=RevokedBy.NOBODY
    )
    fee_amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0, message=FEE_NEGATIVE)],
    )
    fee_confirmed_on = models.DateField(null=True, blank=True)
    fee_waived = models.BooleanField(default=False)
    # Its partner's region, kept in step (partners.regions): a channel manager's terms are
    # found and counted from one index of her regions, not through her partners.
    region = region_key()  # indexed: term_region below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["partner_id", "-starts_on"]  # (see Contact.Meta.ordering)
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="term_ends_after_start",
                violation_error_message=TERM_ENDS_BEFORE_START,
            ),
            models.CheckConstraint(
                condition=Q(fee_amount__gte=0),
                name="term_fee_not_negative",
                violation_error_message=FEE_NEGATIVE,
            ),
            # The "no overlap" rule is an exclusion constraint on PostgreSQL and a trigger on
            # SQLite, both added by migration 0002 (neither fits Meta on both databases).
        ]
        indexes = [models.Index(fields=["region"], name="term_region")]

    def __str__(self) -> str:
        return f"{self.starts_on:%Y-%m-%d} – {self.ends_on:%Y-%m-%d}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.starts_on and self.ends_on:
            latest = self.starts_on + relativedelta(years=1, days=-1)
            if self.ends_on < self.starts_on:
                errors["ends_on"] = TERM_ENDS_BEFORE_START
            elif self.ends_on > latest:
                errors["ends_on"] = TERM_TOO_LONG.format(latest=latest)
            elif self.partner_id:
                other = self.overlapping().first()
                if other:
                    errors["starts_on"] = TERMS_OVERLAP.format(other=other)
        if self.revoked_on and not self.revoked_by:
            errors["revoked_by"] = REVOKED_BY_REQUIRED
        if self.revoked_by and not self.revoked_on:
            errors["revoked_on"] = REVOKED_BY_WITHOUT_DATE
        if errors:
            raise ValidationError(errors)

    def overlapping(self) -> models.QuerySet[PartnershipTerm]:
        return PartnershipTerm.objects.filter(
            partner_id=self.partner_id, starts_on__lte=self.ends_on, ends_on__gte=self.starts_on
        ).exclude(pk=self.pk)

    def is_signed(self, on: date) -> bool:
        return self.signed_on is not None and self.signed_on <= on

    def is_revoked(self, on: date) -> bool:
        return self.revoked_on is not None and self.revoked_on <= on

    def fee_settled(self, on: date) -> bool:
        return self.fee_waived or (
            self.fee_confirmed_on is not None and self.fee_confirmed_on <= on
        )


class ComplianceIncident(models.Model):
    """A suspected or found breach of the agreement; unresolved, it is a material breach."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="incidents")
    license = models.ForeignKey(
        "licensing.License",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
        help_text="The license misused, when one is concerned.",
    )
    kind = models.CharField(max_length=30, choices=IncidentKind.choices)
    opened_on = models.DateField()
    resolved_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    # Opened by the nightly usage check: the report that showed it.
    usage_report = models.ForeignKey(
        "licensing.UsageReport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents",
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True, help_text="How it was resolved.")
    # Its partner's region, kept in step (partners.regions): a channel manager's incidents
    # are read newest first from one index of her regions, and counted there.
    region = region_key()  # indexed: incident_region_newest below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["-opened_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=models.F("opened_on")),
                name="incident_resolved_after_opened",
                violation_error_message="An incident cannot be resolved before it was opened.",
            )
        ]
        indexes = [
            models.Index(
                fields=["partner"], condition=Q(resolved_on__isnull=True), name="incident_open"
            ),
            # The list's order (newest first, then by id): its first page read from the
            # index, not every incident joined to its partner and sorted.
            models.Index(fields=["-opened_on", "-id"], name="incident_newest"),
            # A channel manager's: her regions' first page and their count, from the index.
            models.Index(fields=["region", "-opened_on", "-id"], name="incident_region_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.partner}, {self.opened_on:%Y-%m-%d})"

    def is_open(self, on: date) -> bool:
        return self.opened_on <= on and (self.resolved_on is None or self.resolved_on > on)


class Opportunity(models.Model):
    """A deal a partner registered for a prospect; an approved one may get a Trial license."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="opportunities")
    prospect_name = models.CharField(max_length=200, validators=[no_line_breaks])
    prospect_country = CountryField()
    registered_on = models.DateField()
    status = models.CharField(
        max_length=20, choices=OpportunityStatus.choices, default=OpportunityStatus.REGISTERED
    )
    solution_architect = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="opportunities",
    )
    closed_on = models.DateField(null=True, blank=True)
    # Imported from a Partner Center export: a second import of the same id updates it.
    partner_center_id = models.CharField(
        "Partner Center id", max_length=64, blank=True, validators=[no_line_breaks]
    )
    # Its partner's region, kept in step (partners.regions): a channel manager's
    # opportunities are read newest first from one index of her regions, and counted there.
    region = region_key()  # indexed: opp_region_newest below

    history = HistoricalRecords(excluded_fields=["region"])

    class Meta:
        ordering = ["-registered_on", "-id"]
        verbose_name_plural = "opportunities"
        constraints = [
            models.UniqueConstraint(
                fields=["partner_center_id"],
                condition=~Q(partner_center_id=""),
                name="opportunity_partner_center_id_unique",
                violation_error_message="Another opportunity has this Partner Center id.",
            )
        ]
        indexes = [
            models.Index(fields=["status", "solution_architect"], name="opp_status_sa"),
            # The list's order: its first page read from the index, not a sort of the table.
            models.Index(fields=["-registered_on", "-id"], name="opp_newest"),
            # A channel manager's: her regions' first page and their count, from the index.
            models.Index(fields=["region", "-registered_on", "-id"], name="opp_region_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.prospect_name} ({self.partner})"

    def clean(self) -> None:
        closed = self.status in (OpportunityStatus.WON, OpportunityStatus.LOST)
        if closed and not self.closed_on:
            raise ValidationError(
                {"closed_on": "A won or lost opportunity needs its closing date."}
            )
        if not closed and self.closed_on:
            raise ValidationError(
                {"closed_on": "Only a won or lost opportunity has a closing date."}
            )
        if self.closed_on and self.registered_on and self.closed_on < self.registered_on:
            raise ValidationError({"closed_on": "It cannot close before it was registered."})


class RowCount(models.Model):
    """A change in the number of rows of a table in one region (`partners.row_counts`):
    appended by PostgreSQL triggers for every statement that inserts or deletes rows, or
    moves one to another region; the sum per table and region is the number of rows.
    Written by the database only, folded to one row per table and region each night."""

    table_name = models.CharField(max_length=63)
    region_id = models.IntegerField(null=True)  # empty: the table has no region key
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["table_name", "region_id"], name="row_count_table")]

    def __str__(self) -> str:
        return f"{self.table_name} region {self.region_id}: {self.n:+}"
