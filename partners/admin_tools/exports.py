"""Exports a person can read: labelled columns, names instead of ids (partner, policy,
people), the record's own name or number first, choices by label, dates as dates; CSV
preselected. History exports alike: who, when, what changed, why."""

from __future__ import annotations

from datetime import UTC, datetime

import tablib
from django.contrib.auth import get_user_model
from django.db import models
from django.utils.text import capfirst
from import_export import fields, resources
from import_export.forms import SelectableFieldsExportForm

from .readable import EMPTY, Names, entries, label, person, plain, previous_map

# The column naming the record when its __str__ is not a plain field ("DL-8", not an id).
NUMBERS = {
    "licensing.license": lambda lic: f"{lic.policy.kind}-{lic.pk}",
}


class CsvFirstExportForm(SelectableFieldsExportForm):
    """The export form with CSV chosen: the format most people open."""

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        titles = [f().get_title() for f in formats]
        if "csv" in titles:
            self.fields["format"].initial = str(titles.index("csv"))


class ReadableField(fields.Field):
    """A model field exported as people read it; dates, numbers and booleans keep their
    type (a spreadsheet cell stays a date or a number)."""

    def __init__(self, model_field, **kwargs):
        self.model_field = model_field
        super().__init__(attribute=model_field.name, column_name=label(model_field), **kwargs)

    def export(self, instance, **kwargs):
        f = self.model_field
        if f.is_relation:
            related = getattr(instance, f.name)
            if related is None:
                return ""
            return person(related) if isinstance(related, get_user_model()) else str(related)
        value = getattr(instance, f.attname)
        if value is None:
            return ""
        if f.choices:
            return str(dict(f.flatchoices).get(value, value))
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        if isinstance(value, dict | list):
            return plain(value)
        if isinstance(f, models.CharField) and f.name == "environment_names":
            return ", ".join(v.strip() for v in value.split(",") if v.strip())
        name = getattr(value, "name", None)  # a country: its name, not its code
        if isinstance(name, str):
            return name
        return value


class NumberField(fields.Field):
    def __init__(self, column_name, number):
        self.number = number
        super().__init__(attribute="pk", column_name=column_name)

    def export(self, instance, **kwargs):
        return self.number(instance)


def readable_resource(model, exclude=()):
    """A ModelResource of `model` whose columns are labelled and whose values are names."""
    opts = model._meta
    concrete = [f for f in opts.concrete_fields if f.name not in exclude]
    attrs: dict = {}
    order = []
    number = NUMBERS.get(opts.label_lower)
    if number:
        attrs["number"] = NumberField(capfirst(opts.verbose_name), number)
        order.append("number")
    for f in concrete:
        attrs[f.name] = ReadableField(f)
        order.append(f.name)
    related = [f.name for f in concrete if f.is_relation and f.many_to_one]
    if number and "policy" not in related and any(f.name == "policy" for f in concrete):
        related.append("policy")

    def filter_export(self, queryset, **kwargs):
        # One query for the whole export, names included, whatever the row count.
        return queryset.select_related(*related) if related else queryset

    meta = type("Meta", (), {"model": model, "fields": order, "export_order": order})
    attrs.update(Meta=meta, filter_export=filter_export)
    return type(f"{model.__name__}Resource", (resources.ModelResource,), attrs)


HISTORY_HEADERS = ["ID", "Record", "When (UTC)", "Who", "What", "What changed", "Why"]


def history_dataset(model, history, cell) -> tablib.Dataset:
    """The history rows in `history` (of `model`), by record then oldest first: the record,
    when, who, what was done, what changed (label: old → new) and why."""
    dataset = tablib.Dataset(headers=HISTORY_HEADERS)
    names = Names()
    ids = list(history.order_by("id").values_list("id", flat=True).distinct())
    chunk = 500
    for start in range(0, len(ids), chunk):
        some = ids[start : start + chunk]
        previous = previous_map(model.history.model, some)
        rows = list(
            history.filter(id__in=some)
            .select_related("history_user")
            .order_by("id", "history_date", "history_id")
        )
        for row, entry in zip(rows, entries(model, rows, previous, names), strict=True):
            when = entry.when.astimezone(UTC).replace(tzinfo=None, microsecond=0)
            what = entry.changes_text
            why = "" if entry.why == EMPTY else entry.why
            who = "" if entry.who == EMPTY else entry.who
            cells = (row.id, entry.record, when, who, entry.action, what, why)
            dataset.append([cell(c) for c in cells])
    return dataset
