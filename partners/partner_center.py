"""Opportunities imported from a Partner Center export (CSV or XLSX) in the admin, with
django-import-export's preview and its per-row errors.

A row is keyed by its Partner Center id, so a second import of the same export updates the
opportunities it made. A channel manager imports for her regions only: a row naming a
partner of another region is refused by name. A status that moves (to won or lost, say) goes
through `set_opportunity_status`, as a change by hand does; a new row starts at its status.

Columns (as Partner Center names them): Opportunity ID, Partner, Customer name, Customer
country (ISO code or English name), Registered (YYYY-MM-DD), Status, Solution architect
(e-mail or username, optional).
"""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django_countries import countries
from import_export import fields, resources, widgets
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX

from .choices import OpportunityStatus
from .dates import today
from .models import Opportunity, Partner
from .roles import SOLUTION_ARCHITECT
from .scoping import is_channel_manager, is_licensing_team
from .services import OPPORTUNITY_MOVES, may_keep, set_opportunity_status

IMPORT_REASON = "imported from Partner Center"
NOT_YOUR_REGION = "{partner} is a partner of {region}, not of your regions"
NO_SUCH_PARTNER = "no partner named “{name}”"
NO_SUCH_ARCHITECT = "no solution architect “{name}”"
NO_SUCH_COUNTRY = "“{name}” is not a country (an ISO code such as PT, or its English name)"
NO_SUCH_STATUS = "“{name}” is not a status: {choices}"
BAD_DATE = "“{value}” is not a date (YYYY-MM-DD)"
STATUS_MOVE = "the opportunity is {current} here; it cannot become {wanted}"
OTHER_REGION_ID = "this Partner Center id is an opportunity of {partner}, not of your regions"


class PartnerWidget(widgets.ForeignKeyWidget):
    """A partner by its name; one outside the importer's regions is refused by name."""

    def __init__(self, user=None):
        super().__init__(Partner, "name")
        self.user = user

    def clean(self, value, row=None, **kwargs):
        name = str(value or "").strip()
        partner = Partner.objects.select_related("region").filter(name__iexact=name).first()
        if partner is None:
            raise ValueError(NO_SUCH_PARTNER.format(name=name))
        if self.user is not None and not may_keep(self.user, partner.region):
            raise ValueError(NOT_YOUR_REGION.format(partner=partner, region=partner.region))
        return partner

    def render(self, value, obj=None, **kwargs):
        return value.name if value else ""


class ArchitectWidget(widgets.ForeignKeyWidget):
    def __init__(self):
        super().__init__(get_user_model(), "username")

    def clean(self, value, row=None, **kwargs):
        name = str(value or "").strip()
        if not name:
            return None
        users = get_user_model().objects.filter(groups__name=SOLUTION_ARCHITECT)
        user = (users.filter(email__iexact=name) | users.filter(username__iexact=name)).first()
        if user is None:
            raise ValueError(NO_SUCH_ARCHITECT.format(name=name))
        return user

    def render(self, value, obj=None, **kwargs):
        return (value.email or value.username) if value else ""


class CountryWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = str(value or "").strip()
        if text.upper() in dict(countries):
            return text.upper()
        code = countries.by_name(text)
        if not code:
            raise ValueError(NO_SUCH_COUNTRY.format(name=text))
        return code

    def render(self, value, obj=None, **kwargs):
        return str(value.code) if value else ""


class DayWidget(widgets.Widget):
    """A date from a CSV text or an XLSX date cell."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value or "").strip()[:10])
        except ValueError:
            raise ValueError(BAD_DATE.format(value=value)) from None

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


def status_of(value) -> str:
    text = str(value or "").strip().lower()
    for choice in OpportunityStatus:
        if text in (choice.value, choice.label.lower()):
            return choice.value
    labels = ", ".join(c.label for c in OpportunityStatus)
    raise ValidationError({"status": NO_SUCH_STATUS.format(name=value, choices=labels)})


class PartnerCenterResource(resources.ModelResource):
    partner_center_id = fields.Field("partner_center_id", "Opportunity ID")
    partner = fields.Field("partner", "Partner", widget=PartnerWidget())
    prospect_name = fields.Field("prospect_name", "Customer name")
    prospect_country = fields.Field("prospect_country", "Customer country", CountryWidget())
    registered_on = fields.Field("registered_on", "Registered", widget=DayWidget())
    status = fields.Field("status", "Status")
    solution_architect = fields.Field(
        "solution_architect", "Solution architect", widget=ArchitectWidget()
    )

    class Meta:
        model = Opportunity
        import_id_fields = ["partner_center_id"]
        fields = [
            "partner_center_id",
            "partner",
            "prospect_name",
            "prospect_country",
            "registered_on",
            "status",
            "solution_architect",
        ]
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def __init__(self, user=None, on=None, **kwargs):
        super().__init__(**kwargs)
        self.user, self.on = user, on or today()
        self.fields["partner"].widget = PartnerWidget(user)

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.attribute == "status":
            return  # moved after the save, through the service (see save_instance)
        if field.attribute == "partner_center_id" and not str(row.get(field.column_name) or ""):
            raise ValueError("the Opportunity ID is missing")
        return super().import_field(field, instance, row, is_m2m, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        if instance.pk and self.user is not None:
            current = Opportunity.objects.select_related("partner__region").get(pk=instance.pk)
            if not may_keep(self.user, current.partner.region):
                raise ValidationError(OTHER_REGION_ID.format(partner=current.partner))
        wanted = status_of(row.get("Status"))
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        instance._wanted_status = wanted
        if instance.pk is None:
            instance.status = wanted
            closed = wanted in (OpportunityStatus.WON, OpportunityStatus.LOST)
            instance.closed_on = self.on if closed else None
        elif wanted != instance.status and wanted not in OPPORTUNITY_MOVES.get(instance.status, ()):
            errors["status"] = [
                STATUS_MOVE.format(
                    current=instance.get_status_display().lower(),
                    wanted=OpportunityStatus(wanted).label.lower(),
                )
            ]
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if instance.pk and getattr(instance, "_wanted_status", None) != instance.status:
            return False  # a status to move is a change even when nothing else is
        return super().skip_row(instance, original, row, import_validation_errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        instance._history_user, instance._change_reason = self.user, IMPORT_REASON
        super().save_instance(instance, is_create, row, **kwargs)
        wanted = getattr(instance, "_wanted_status", instance.status)
        if wanted != instance.status:
            set_opportunity_status(instance, status=wanted, by=self.user, on=self.on)


class PartnerCenterImportMixin(ImportMixin):
    """The import of a Partner Center export on the opportunities list."""

    import_formats = [CSV, XLSX]
    import_export_change_list_template = "admin/change_list_import_export.html"

    def has_import_permission(self, request):
        user = request.user
        return is_licensing_team(user) or is_channel_manager(user)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def get_import_resource_classes(self, request):
        return [PartnerCenterResource]
