"""Every model's admin: history read-only, exports of the list and its history, the
region scope, and the read-only logs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from numbers import Number
from uuid import UUID

import tablib
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import (
    EmptyResultSet,
    FullResultSet,
    PermissionDenied,
    ValidationError,
)
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import gettext as _
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX
from simple_history.admin import SimpleHistoryAdmin

from .. import row_counts
from ..scoping import RegionScope, region_scope, scope, sees_everything
from .exports import CsvFirstExportForm, history_dataset, readable_resource
from .readable import Names, entries, previous_map


class ScopedChoicesMixin:
    """Foreign-key and many-to-many choices (selects, autocomplete, raw ids, and what a
    POST may name) come from the related admin's own queryset, so a user can neither see
    nor pick a row outside their scope, whatever the form."""

    def _scoped_choices(self, db_field, request, kwargs):
        related = self.admin_site._registry.get(db_field.remote_field.model)
        if related is not None and "queryset" not in kwargs:
            kwargs["queryset"] = related.get_queryset(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


# An export's parameters are the list's filters. Where Django's list sends a filter it does
# not have, or a value the filter cannot take, back to the bare list ("?e=1"), an export,
# which a script may be fetching, answers 400 with this.
INVALID_FILTER = (
    "Bad request: the export's parameters must be the list's filters, with values they take."
)

# Never exported, shown in lists or kept in history: the secrets of the desk.
SECRET_FIELDS = {
    "licensing.license": ("activation_code",),
    "ipp.infrastructuretoken": ("key_hash",),
}


class KeptCountMixin:
    """The list's count as the database keeps it (`partners.row_counts`) when the list
    shows every row of the user's scope, unfiltered and unsearched; counted otherwise.
    `_scoped` and `_rows_scope` say what the scope is (every row, unless overridden)."""

    def _scoped(self, queryset, user):
        return queryset

    def _rows_scope(self, user) -> RegionScope | None:
        return RegionScope(everything=True)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        count = None
        if self._every_row_in_scope(request, queryset):
            rows = self._rows_scope(request.user)
            count = None if rows is None else row_counts.kept(self.model, rows)
        return KeptCountPaginator(queryset, per_page, orphans, allow_empty_first_page, count)

    def _every_row_in_scope(self, request, queryset) -> bool:
        """No filter, search or date on top of the scope: the same conditions as the scope
        of the model's every row (a default filter of a list's own would differ too)."""
        query = queryset.query
        if query.distinct or query.group_by is not None or query.combinator:
            return False
        unfiltered = self._scoped(self.model._default_manager.all(), request.user)
        return _where_sql(queryset) == _where_sql(unfiltered)


def _where_sql(queryset) -> tuple:
    """A queryset's conditions as SQL and parameters (Django compares subqueries by
    identity, not by what they select)."""
    try:
        return queryset.query.get_compiler(queryset.db).compile(queryset.query.where)
    except EmptyResultSet:
        return ("nothing", ())
    except FullResultSet:
        return ("", ())


class AuditedAdmin(KeptCountMixin, ScopedChoicesMixin, ExportMixin, SimpleHistoryAdmin):
    """Every model's admin: history read-only (no revert, no edit); export of the current
    changelist (its filters, the user's scope, no secret) and of its history."""

    import_export_change_list_template = "admin/change_list_export.html"
    # SIMPLE_HISTORY_REVERT_DISABLED (settings) hides the revert button; the views below
    # also refuse the POST that would still revert, and rows outside the user's scope.
    history_list_display: list[str] = []
    object_history_list_template = "admin/history/list.html"
    export_form_class = CsvFirstExportForm
    # Related records whose history shows on this one's page, as (model, path to this
    # model): a partner's terms, contacts and incidents.
    history_related: tuple = ()

    def action_checkbox(self, obj):
        # Django's markup, written directly: rendering the checkbox widget's template took
        # a quarter of a millisecond per row, a quarter of a full page's rendering.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def _history_visible(self, request, object_id) -> bool:
        try:
            pk = self.model._meta.pk.to_python(unquote(object_id))
        except ValidationError:
            return False  # not an id at all (`/history/abc/`): no such object
        if self.get_queryset(request).filter(pk=pk).exists():
            return True
        # simple-history falls back to the last history row of an object it cannot find:
        # only those who see everything may read the history of a deleted object.
        deleted = not self.model._default_manager.filter(pk=pk).exists()
        return deleted and sees_everything(request.user)

    def _history_allowed(self, request) -> None:
        # Before any lookup: a role that may not read this model's history gets 403 for an
        # object that exists as for one that does not, never a redirect for the latter.
        if not self.has_view_history_or_change_history_permission(request):
            raise PermissionDenied

    def history_view(self, request, object_id, extra_context=None):
        self._history_allowed(request)
        if not self._history_visible(request, object_id):
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        return super().history_view(request, object_id, extra_context)

    def export_action(self, request):
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(INVALID_FILTER, content_type="text/plain; charset=utf-8")

    def get_data_for_export(self, request, queryset, **kwargs):
        # The list export's rows, with formulae turned into text (see spreadsheet_cell).
        return spreadsheet_safe(super().get_data_for_export(request, queryset, **kwargs))

    def get_export_resource_classes(self, request):
        exclude = SECRET_FIELDS.get(self.model._meta.label_lower, ())
        return [readable_resource(self.model, exclude=exclude)]

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "export-history/",
                self.admin_site.admin_view(self.export_history_view),
                name=f"{info[0]}_{info[1]}_export_history",
            ),
            *super().get_urls(),
        ]

    def export_history_view(self, request):
        """The history rows of the objects in the current changelist (same filters, same
        scope), as CSV or XLSX: what an auditor takes away."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # `format` is ours; every other parameter is the changelist's filters.
        request.GET = request.GET.copy()
        wanted = request.GET.pop("format", ["csv"])[0]
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(INVALID_FILTER, content_type="text/plain; charset=utf-8")
        ids = changelist.get_queryset(request).values("pk")
        history = self.model.history.filter(id__in=ids)
        dataset = history_dataset(self.model, history, spreadsheet_cell)
        fmt = XLSX() if wanted == "xlsx" else CSV()
        response = HttpResponse(fmt.export_data(dataset), content_type=fmt.get_content_type())
        filename = f"{info_name(self.model)}-history.{fmt.get_extension()}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def set_history_delta_changes(self, request, historical_records, **kwargs):
        # Instead of simple-history's raw deltas (ids, field names, `pk=None`): entries
        # with labels, names and dates, kept on the request for render_history_view.
        records = list(historical_records.object_list)
        names = Names()
        previous = previous_map(self.model.history.model, {r.id for r in records})
        found = entries(self.model, records, previous, names)
        for entry in found:
            entry.url = f"{entry.key}/"
        request.history_entries = found
        if historical_records.number == 1 and records:
            request.history_entries += self.related_history_entries(records[0].id, names)
        request.history_entries.sort(key=lambda e: (e.when, e.key), reverse=True)

    def related_history_entries(self, object_id, names, limit=200):
        found = []
        for model, link in self.history_related:
            history = model.history.filter(**{link: object_id}).select_related("history_user")
            records = list(history.order_by("-history_date", "-history_id")[:limit])
            previous = previous_map(model.history.model, {r.id for r in records})
            found += entries(model, records, previous, names)
        return found

    def render_history_view(self, request, template, context, **kwargs):
        context["history_entries"] = getattr(request, "history_entries", [])
        return super().render_history_view(request, template, context, **kwargs)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])  # history is never written back
        self._history_allowed(request)
        if not self._history_visible(request, object_id):
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        try:
            self.model.history.model._meta.pk.to_python(version_id)
        except ValidationError:
            raise Http404 from None  # `/history/abc/`, as for a version that does not exist
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyMixin:
    """Logs and evidence (sent mail, portal attempts, nightly runs, deployment checks):
    seen in the admin, never added, changed or deleted there."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NeverDeletedMixin:
    """Records that end by a move, not a deletion (a partner becomes former, an opportunity
    is lost, an incident is resolved), and that licenses and history point at: nobody is
    offered "Delete", whatever their model permissions."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RegionScopedAdmin(AuditedAdmin):
    """Limits rows to the user's scope (see partners.scoping.scope).

    `region_path` leads from the model to its Region; `architect_path`, for licensing data,
    to the solution architect it is assigned to (None: partner data, read by architects).
    """

    region_path = "region"
    architect_path: str | None = None

    def get_queryset(self, request):
        return self._scoped(super().get_queryset(request), request.user)

    def _scoped(self, queryset, user):
        return scope(
            queryset, user, region_path=self.region_path, architect_path=self.architect_path
        )

    def _rows_scope(self, user) -> RegionScope | None:
        return region_scope(user)


class KeptCountPaginator(Paginator):
    """A paginator given the number of rows (`count`), or counting them when it is None."""

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, count=None):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        if count is not None:
            self.count = count  # the cached_property's value


# OWASP "CSV injection": a text cell that starts with one of these is a formula to Excel,
# LibreOffice and Google Sheets (tab and CR too: the spreadsheet strips them and reads on).
# django-import-export's IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT is left off (and would not
# reach the history export): it strips a leading "=" only, not +, -, @, tab or CR, and
# writes every cell as text, numbers included and None as "None".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number written as text (the CSV list export renders numbers as text) evaluates to
# itself: left as it is, it stays a number when the sheet is opened.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_TEXT = (Number, date, time, timedelta, UUID)  # bool is a Number, datetime a date


def spreadsheet_cell(value):
    """A value as an export writes it: formulae turned into text, numbers left numbers.

    Text that a spreadsheet would evaluate (a partner named `=cmd|' /C calc'!A0`) gets a
    leading single quote, so that it is shown as text and never run. Numbers, dates,
    booleans and None are left as they are: number cells stay numbers, negative or not.
    """
    # Spreadsheets have no time zones: datetimes are exported in UTC, naive.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if value is None or isinstance(value, _NOT_TEXT):
        return value
    text = str(value)  # as CSV or XLSX would write it (a country, a lazy string)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return value


def spreadsheet_safe(dataset: tablib.Dataset) -> tablib.Dataset:
    """The dataset with every cell passed through `spreadsheet_cell`."""
    return tablib.Dataset(
        *([spreadsheet_cell(cell) for cell in row] for row in dataset),
        headers=dataset.headers,
        title=dataset.title,
    )


def info_name(model) -> str:
    return f"{model._meta.app_label}-{model._meta.model_name}"
