"""History and exports as people read them: labels instead of field names, names instead
of ids, choices by their label, dates as dates, limits as words, and who, when, what
changed and why for each history entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import models
from django.utils.text import capfirst

EMPTY = "—"
ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}
NOTHING_CHANGED = "Saved, nothing changed"


def person(user) -> str:
    """A user as colleagues know them: the full name, else the username."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def label(model_field) -> str:
    return capfirst(str(model_field.verbose_name))


def words(key: str) -> str:
    return capfirst(key.replace("_", " "))


def plain(value) -> str:
    """A stored value (no field to explain it) as text."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return ", ".join(f"{words(str(k))}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    name = getattr(value, "name", None)  # a django-countries Country
    if isinstance(name, str) and name:
        return name
    return str(value)


class Names:
    """The names of related rows, looked up once per model and id set."""

    def __init__(self):
        self.cache: dict[type, dict] = {}

    def load(self, model, ids) -> None:
        known = self.cache.setdefault(model, {})
        wanted = {i for i in ids if i is not None and i not in known}
        if not wanted:
            return
        manager = model._base_manager
        if model is get_user_model():
            rows = manager.filter(pk__in=wanted)
            known.update({u.pk: person(u) for u in rows})
        else:
            related = [
                f.name
                for f in model._meta.concrete_fields
                if f.is_relation and f.many_to_one and not f.null
            ]
            rows = manager.filter(pk__in=wanted).select_related(*related)
            known.update({row.pk: str(row) for row in rows})
        for missing in wanted - known.keys():
            known[missing] = f"#{missing} (deleted)"

    def of(self, model, pk) -> str:
        if pk is None:
            return EMPTY
        self.load(model, [pk])
        return self.cache[model][pk]


def tracked_fields(model, history_model) -> list[models.Field]:
    """The fields of `model` its history keeps (secrets are not kept), id left out."""
    kept = {f.attname for f in history_model._meta.concrete_fields}
    return [f for f in model._meta.concrete_fields if f.attname in kept and not f.primary_key]


def shown(model_field, value, names: Names) -> str:
    """A field's stored value as text: names, choice labels, dates."""
    if value is None or value == "":
        return EMPTY
    if model_field.is_relation:
        return names.of(model_field.related_model, value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if model_field.name == "environment_names" and isinstance(value, str):
        return ", ".join(v.strip() for v in value.split(",") if v.strip()) or EMPTY
    return plain(value)


@dataclass
class Entry:
    """One line of history: who did what, when, to which record, and why."""

    when: datetime
    who: str
    action: str
    record: str
    why: str
    kind: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    url: str = ""
    key: int = 0

    @property
    def when_text(self) -> str:
        return plain(self.when)

    @property
    def changes_text(self) -> str:
        return "; ".join(f"{name}: {old} → {new}" for name, old, new in self.changes)


def entries(model, records, previous: dict, names: Names) -> list[Entry]:
    """History records of `model` as entries; `previous` maps a record's history_id to the
    record before it (same object), None for the first."""
    fields = tracked_fields(model, records[0].__class__) if records else []
    for f in fields:
        if f.is_relation:
            ids = {getattr(r, f.attname) for r in records}
            ids |= {getattr(p, f.attname) for p in previous.values() if p is not None}
            names.load(f.related_model, ids)
    out = []
    for record in records:
        before = previous.get(record.history_id)
        changes = []
        for f in fields:
            new = getattr(record, f.attname)
            if before is None:
                if new in (None, "", [], {}) or record.history_type != "+":
                    continue
                changes.append((label(f), EMPTY, shown(f, new, names)))
                continue
            old = getattr(before, f.attname)
            if old != new:
                changes.append((label(f), shown(f, old, names), shown(f, new, names)))
        if before is None and record.history_type == "+":
            changes = []  # a creation lists the record itself, not every first value
        action = ACTIONS.get(record.history_type, record.history_type)
        if record.history_type == "~" and before is not None and not changes:
            action = NOTHING_CHANGED  # saved as it was (a form saved again, a re-run seed)
        out.append(
            Entry(
                when=record.history_date,
                who=person(record.history_user) if record.history_user_id else EMPTY,
                action=action,
                record=names.of(model, record.id),
                kind=capfirst(model._meta.verbose_name),
                why=record.history_change_reason or EMPTY,
                changes=changes,
                key=record.history_id,
            )
        )
    return out


def previous_map(history_model, object_ids) -> dict:
    """history_id → the record before it for the same object, over all their history."""
    rows = history_model.objects.filter(**{"id__in": list(object_ids)}).order_by(
        "id", "history_date", "history_id"
    )
    last: dict = {}
    before: dict = {}
    for row in rows:
        before[row.history_id] = last.get(row.id)
        last[row.id] = row
    return before
