from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html
from rangefilter.filters import DateRangeFilterBuilder

from . import row_counts, services
from .admin_tools import (
    NeverDeletedMixin,
    ReasonForm,
    RegionScopedAdmin,
    ScopedChoicesMixin,
    Transition,
    TransitionsMixin,
    YesNoFilter,
    badge,
    count_of,
)
from .admin_tools.filters import CountriesInUseFilter, PeopleInUseFilter
from .choices import OpportunityStatus, PartnerStatus
from .incident_admin import ComplianceIncidentAdmin as ComplianceIncidentAdmin  # registered
from .models import (
    TERMS_OVERLAP,
    ComplianceIncident,
    Contact,
    Opportunity,
    Partner,
    PartnershipTerm,
    Region,
    open_incident_q,
)
from .partner_center import PartnerCenterImportMixin
from .roles import CHANNEL_MANAGER, SOLUTION_ARCHITECT
from .services import standing, today


@admin.register(Region)
class RegionAdmin(RegionScopedAdmin):
    region_path = ""  # a channel manager sees the regions they manage
    list_display = ["name", "code", "managers", "partner_count"]
    search_fields = ["name", "code"]
    filter_horizontal = ["channel_managers"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(partner_count=Coalesce(self.partners_per_region(), 0))
            .prefetch_related("channel_managers")
        )

    @staticmethod
    def partners_per_region():
        """The count the database keeps per region (partners.row_counts); elsewhere a count
        per region from the partner index, not a join of every partner (the page's row
        count then needs no GROUP BY over the partners either)."""
        kept = row_counts.kept_per_region(Partner)
        if kept is not None:
            return kept
        return Subquery(
            Partner.objects.filter(region=OuterRef("pk"))
            .order_by()
            .values("region")
            .annotate(n=Count("*"))
            .values("n")
        )

    @admin.display(description="channel managers")
    def managers(self, region: Region) -> str:
        return ", ".join(u.get_full_name() or u.username for u in region.channel_managers.all())

    @admin.display(description="partners", ordering="partner_count")
    def partner_count(self, region: Region) -> int:
        return region.partner_count


class ContactInline(ScopedChoicesMixin, admin.TabularInline):
    model = Contact
    extra = 0
    max_num = 2
    fields = ["role", "name", "email"]


class TermFormSet(BaseInlineFormSet):
    """Catches two new overlapping terms entered in one save (each alone passes clean())."""

    def clean(self) -> None:
        super().clean()
        spans = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if (
                not data
                or data.get("DELETE")
                or not data.get("starts_on")
                or not data.get("ends_on")
            ):
                continue
            for starts, ends in spans:
                if data["starts_on"] <= ends and data["ends_on"] >= starts:
                    raise ValidationError(TERMS_OVERLAP.format(other=f"{starts} – {ends}"))
            spans.append((data["starts_on"], data["ends_on"]))


class PartnershipTermInline(ScopedChoicesMixin, admin.TabularInline):
    model = PartnershipTerm
    formset = TermFormSet
    extra = 0
    fields = [
        "starts_on",
        "ends_on",
        "signed_on",
        "revoked_on",
        "revoked_by",
        "fee_amount",
        "fee_confirmed_on",
        "fee_waived",
    ]


class ComplianceIncidentInline(ScopedChoicesMixin, admin.TabularInline):
    model = ComplianceIncident
    extra = 0
    fields = ["kind", "license", "opened_on", "resolved_on", "notes"]
    autocomplete_fields = ["license"]


class StandingFilter(YesNoFilter):
    title = "in good standing today"
    parameter_name = "good_standing"

    def queryset(self, request, queryset):
        # The standing kept on the row (today's answer of services.standing): one column
        # read, not every partner's terms and incidents judged on each visit.
        if self.value() == "yes":
            return queryset.kept_in_good_standing(True)
        if self.value() == "no":
            return queryset.kept_in_good_standing(False)
        return queryset


class RenewalFilter(admin.SimpleListFilter):
    title = "renewal date"
    parameter_name = "renewal"

    def lookups(self, request, model_admin):
        return [("30", "Within 30 days"), ("90", "Within 90 days"), ("none", "No current term")]

    def queryset(self, request, queryset):
        day = today()
        current = PartnershipTerm.objects.filter(
            partner=OuterRef("pk"), starts_on__lte=day, ends_on__gte=day
        )
        if self.value() in ("30", "90"):
            horizon = day + timedelta(days=int(self.value()))
            return queryset.filter(Exists(current.filter(ends_on__lte=horizon)))
        if self.value() == "none":
            return queryset.exclude(Exists(current))
        return queryset


class OpenIncidentFilter(YesNoFilter):
    title = "open compliance incident"
    parameter_name = "open_incident"

    def queryset(self, request, queryset):
        incidents = ComplianceIncident.objects.filter(
            open_incident_q(today()), partner=OuterRef("pk")
        )
        if self.value() == "yes":
            return queryset.filter(Exists(incidents))
        if self.value() == "no":
            return queryset.exclude(Exists(incidents))
        return queryset


def partner_move(status: str):
    """Offered to the partner's keepers when the program allows the move."""

    def offered(partner: Partner, user) -> bool:
        allowed = status in services.PARTNER_MOVES.get(partner.status, ())
        return allowed and services.may_keep(user, partner.region)

    return offered


PARTNER_TRANSITIONS = (
    Transition(
        "activate",
        "Mark active",
        run=lambda p, user, data: services.set_partner_status(
            p, status=PartnerStatus.ACTIVE, by=user
        ),
        offered=partner_move(PartnerStatus.ACTIVE),
    ),
    Transition(
        "former",
        "Mark former",
        run=lambda p, user, data: services.set_partner_status(
            p, status=PartnerStatus.FORMER, by=user, reason=data["reason"]
        ),
        offered=partner_move(PartnerStatus.FORMER),
        form=ReasonForm.saying(services.STATUS_REASON_REQUIRED),
        confirm="Mark this partner former? It may then buy customer licenses only.",
        danger=True,
    ),
)


def opportunity_move(status: str):
    def offered(opportunity: Opportunity, user) -> bool:
        allowed = status in services.OPPORTUNITY_MOVES.get(opportunity.status, ())
        return allowed and services.may_keep(user, opportunity.partner.region)

    return offered


def opportunity_transition(name: str, label: str, status: str, **kwargs) -> Transition:
    return Transition(
        name,
        label,
        run=lambda o, user, data: services.set_opportunity_status(o, status=status, by=user),
        offered=opportunity_move(status),
        **kwargs,
    )


OPPORTUNITY_TRANSITIONS = (
    opportunity_transition("accept", "Accept", OpportunityStatus.ACCEPTED),
    opportunity_transition("approve", "Approve", OpportunityStatus.APPROVED),
    opportunity_transition(
        "win", "Won", OpportunityStatus.WON, confirm="Close this opportunity as won?"
    ),
    opportunity_transition(
        "lose",
        "Lost",
        OpportunityStatus.LOST,
        confirm="Close this opportunity as lost?",
        danger=True,
    ),
)


@admin.register(Partner)
class PartnerAdmin(NeverDeletedMixin, TransitionsMixin, RegionScopedAdmin):
    show_full_result_count = False  # one COUNT of 20,000 partners less per page
    # Standing second, its reasons in the cell: the column a reader comes for.
    list_display = [
        "name",
        "standing_badge",
        "country_name",
        "region",
        "status_badge",
        "channel_manager",
        "renewal_date",
    ]
    list_select_related = ["region", "channel_manager"]
    list_filter = [
        StandingFilter,
        RenewalFilter,
        OpenIncidentFilter,
        "status",
        "region",
        ("country", CountriesInUseFilter),
        ("channel_manager", PeopleInUseFilter),
    ]
    search_fields = ["name", "contacts__name", "contacts__email", "region__name"]
    autocomplete_fields = ["region"]
    fieldsets = [
        (None, {"fields": ["name", "status", "country", "region", "channel_manager"]}),
        ("Program authorizations", {"fields": ["sales_authorized_on", "delivery_authorized_on"]}),
        ("Standing today", {"fields": ["standing_detail", "renewal_date"]}),
    ]
    readonly_fields = ["standing_detail", "renewal_date"]
    inlines = [ContactInline, PartnershipTermInline, ComplianceIncidentInline]
    history_related = (
        (PartnershipTerm, "partner_id"),
        (Contact, "partner_id"),
        (ComplianceIncident, "partner_id"),
    )
    transitions = PARTNER_TRANSITIONS
    transition_noun = "partner"
    transitions_only = False

    def get_readonly_fields(self, request, obj=None):
        # The status moves through the buttons (partners.services), never by editing.
        return [*self.readonly_fields, "status"] if obj else self.readonly_fields

    def transition_message(self, partner, name):
        return f"{partner}: {partner.get_status_display().lower()}."

    def get_queryset(self, request):
        return super().get_queryset(request).with_standing_data()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "channel_manager":
            kwargs["queryset"] = get_user_model().objects.filter(groups__name=CHANNEL_MANAGER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="country", ordering="country")
    def country_name(self, partner: Partner) -> str:
        # The name only: django-countries' default cell rebuilds all 250 choices per row.
        return partner.country.name

    @admin.display(description="status", ordering="status")
    def status_badge(self, partner: Partner) -> str:
        tone = {"active": "ok", "prospective": "info", "former": "muted"}[partner.status]
        return badge(partner.get_status_display(), tone)

    @admin.display(description="renewal date")
    def renewal_date(self, partner: Partner):
        return partner.renewal_date(today()) if partner.pk else None

    @admin.display(description="standing")
    def standing_badge(self, partner: Partner) -> str:
        result = standing(partner, on=today())
        if result.good:
            return badge("good", "ok", "In good standing today")
        # The reasons in the cell itself: a hover text is missed, and absent on a phone.
        reasons = "; ".join(result.reasons)
        return format_html(
            '{}<div class="standing-reasons"><small>{}</small></div>',
            badge(count_of(len(result.reasons), "issue"), "warn", reasons),
            reasons,
        )

    @admin.display(description="standing")
    def standing_detail(self, partner: Partner) -> str:
        if not partner.pk:
            return "—"
        return str(standing(partner, on=today()))


@admin.register(Contact)
class ContactAdmin(RegionScopedAdmin):
    ordering = ["partner__name", "role"]
    region_path = "partner__region"
    list_display = ["name", "role", "email", "partner"]
    list_select_related = ["partner"]
    list_filter = ["role", "partner__region"]
    show_full_result_count = False
    search_fields = ["name", "email", "partner__name"]
    autocomplete_fields = ["partner"]


@admin.register(PartnershipTerm)
class PartnershipTermAdmin(RegionScopedAdmin):
    ordering = ["partner__name", "-starts_on"]
    region_path = "partner__region"
    list_display = [
        "partner",
        "starts_on",
        "ends_on",
        "signed_on",
        "revoked_on",
        "fee_amount",
        "fee_status",
    ]
    list_select_related = ["partner"]
    list_filter = [
        ("ends_on", DateRangeFilterBuilder()),
        ("starts_on", DateRangeFilterBuilder()),
        "partner__region",
        "fee_waived",
        "revoked_by",
    ]
    show_full_result_count = False
    search_fields = ["partner__name"]
    autocomplete_fields = ["partner"]

    @admin.display(description="fee")
    def fee_status(self, term: PartnershipTerm) -> str:
        if term.fee_waived:
            return badge("waived", "info")
        if term.fee_confirmed_on:
            return badge("confirmed", "ok", f"confirmed on {term.fee_confirmed_on}")
        return badge("unconfirmed", "warn")


@admin.register(Opportunity)
class OpportunityAdmin(
    NeverDeletedMixin, PartnerCenterImportMixin, TransitionsMixin, RegionScopedAdmin
):
    region_path = "partner__region"
    architect_path = "solution_architect"  # architects see the opportunities assigned to them
    list_display = [
        "prospect_name",
        "partner",
        "partner_region",
        "prospect_country_name",
        "status_badge",
        "solution_architect",
        "registered_on",
        "closed_on",
    ]
    list_select_related = ["partner__region", "solution_architect"]
    list_filter = [
        "status",
        "partner__region",
        ("solution_architect", PeopleInUseFilter),
        ("prospect_country", CountriesInUseFilter),
        ("registered_on", DateRangeFilterBuilder()),
        ("closed_on", DateRangeFilterBuilder()),
    ]
    show_full_result_count = False
    search_fields = ["prospect_name", "partner__name"]
    autocomplete_fields = ["partner"]
    # The stage moves through the buttons (partners.services), never by editing.
    readonly_fields = ["status", "closed_on"]
    transitions = OPPORTUNITY_TRANSITIONS
    transition_noun = "opportunity"
    transitions_only = False

    def transition_message(self, opportunity, name):
        return f"{opportunity}: {opportunity.get_status_display().lower()}."

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "solution_architect":
            kwargs["queryset"] = get_user_model().objects.filter(groups__name=SOLUTION_ARCHITECT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="prospect country", ordering="prospect_country")
    def prospect_country_name(self, opportunity: Opportunity) -> str:
        return opportunity.prospect_country.name

    # Not named `region`: the opportunity's own region key (partners.regions) would be shown.
    @admin.display(description="region", ordering="partner__region__name")
    def partner_region(self, opportunity: Opportunity) -> str:
        return str(opportunity.partner.region)

    @admin.display(description="status", ordering="status")
    def status_badge(self, opportunity: Opportunity) -> str:
        tone = {"approved": "ok", "won": "ok", "lost": "muted"}.get(opportunity.status, "info")
        return badge(opportunity.get_status_display(), tone)
