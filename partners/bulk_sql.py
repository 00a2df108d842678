"""Many rows in one statement: a table of values to join in SQL, and the cursor to send it;
many values in one parameter: the `any` lookup.

On PostgreSQL the table is `unnest` of one array per column, sent as binary parameters by
a cursor that binds them on the server: a handful of parameters whatever the number of
rows, and no text quoting of each value (the nightly usage check's 5,430 mails: 0.9 s
quoted by the client, 0.35 s sent as binary arrays). Elsewhere (SQLite) a VALUES list
with a placeholder per value, through the ordinary cursor.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from types import NoneType, SimpleNamespace

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models.base import ModelState
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In


class _Any:
    """`field__any=values`: `IN`, sent on PostgreSQL as `field = ANY(%s)` with the values in
    one array parameter instead of a placeholder each. The nightly steps and the standing
    refresh ask for thousands of ids at a time: quoting each into the SQL text took longer
    than the query (2,000 ids: 28 ms as IN, 10 ms as ANY). Elsewhere, and for a subquery,
    `IN` as it is. Registered on every field (`PartnersConfig.ready`)."""

    lookup_name = "any"
    # Every value an int (ids), sent without the field's preparation.
    ints = False

    def get_prep_lookup(self):
        # Ids (ints) are sent as they are: preparing each of thousands through the field
        # took longer than sending them.
        if not hasattr(self.rhs, "resolve_expression"):
            values = list(self.rhs)
            if all(type(value) is int for value in values):
                self.ints = True
                return values
        return super().get_prep_lookup()

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql" or not self.rhs_is_direct_value():
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # As IN sends them (prepared by get_prep_lookup): None left out, each value once,
        # and no values at all matching nothing.
        if self.ints:
            values = dict.fromkeys(self.rhs)
        else:
            field = self.lhs.output_field
            values = {
                field.get_db_prep_value(value, connection, prepared=True): None
                for value in self.rhs
                if value is not None
            }
        if not values:
            raise EmptyResultSet
        return f"{lhs} = ANY(%s)", [*lhs_params, list(values)]


class AnyOf(_Any, In):
    pass


class RelatedAnyOf(_Any, RelatedIn):
    """The same on a foreign key (`partner_id__any=ids`, `partner__any=partners`)."""


def instances(queryset: models.QuerySet, *fields: str) -> list[models.Model]:
    """The rows of `queryset` as model instances holding `fields` ("pk" for the primary
    key), the others deferred (read on access, as with `only()`). Read as plain values
    and put in place without the model's constructor, which walks every field of the model
    and sends its signals for each row: `only()` took 10 µs a row, this under 4. For
    rules that read thousands of rows through the models' methods (the standing refresh);
    an instance built here is for reading: saving one is no different from saving an
    `only()` instance, but no pre_init or post_init receiver has seen it."""
    model = queryset.model
    meta = model._meta
    names = [meta.pk.attname if name == "pk" else meta.get_field(name).attname for name in fields]
    new, alias = model.__new__, queryset.db
    built = []
    for values in queryset.values_list(*fields):
        obj = new(model)
        obj.__dict__.update(zip(names, values, strict=True))
        state = obj._state = ModelState()
        state.adding, state.db = False, alias
        built.append(obj)
    return built


def rows_table(fields, columns: list[list], names: str) -> tuple[str, str, list, list]:
    """A table `v (names)` of rows, one column per field (`columns`: one list per field).

    Returns the WITH clause to put first, the FROM item, and the parameters of each; run
    the statement on `cursor()`.
    """
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%b::{f.cast_db_type(connection)}[]" for f in fields)
        return "", f"unnest({arrays}) AS v ({names})", [], columns
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    values = [value for row_values in zip(*columns, strict=True) for value in row_values]
    rows = ", ".join([row] * len(columns[0]))
    return f"WITH v ({names}) AS (VALUES {rows}) ", "v", values, []


@contextmanager
def cursor():
    """A cursor for `rows_table` statements: on PostgreSQL one that binds parameters on the
    server (what `%b`, binary, needs), wrapped like any Django cursor (errors, query
    logging, execute wrappers)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as plain:
            yield plain
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    with connection._prepare_cursor(ServerBindingCursor(connection.connection)) as bound:
        yield bound


def update(model: type[models.Model], objects: list, fields: list[str]) -> None:
    """Write `fields` of the saved `objects` in one UPDATE … FROM a table of the new values,
    whatever their number and however many distinct values they hold. No signals, no
    history: the caller writes what it needs of those."""
    if not objects:
        return
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    concrete = [model._meta.get_field(name) for name in fields]
    if connection.vendor == "postgresql":
        keys = [obj.pk for obj in objects]
        expressions, rows, params = _arrays(
            [model._meta.pk, *concrete],
            [keys, *(_column(f, objects) for f in concrete)],
            first_varies=True,
        )
        key, values = expressions[0], expressions[1:]
        first = ""
    else:
        columns = [[obj.pk for obj in objects]] + [
            [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objects]
            for f in concrete
        ]
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        first, rows, params, _ = rows_table([model._meta.pk, *concrete], columns, names)
        key, values = "v.c0", [f"v.c{i}" for i in range(1, len(columns))]
    assign = ", ".join(
        f"{quote(f.column)} = {value}" for f, value in zip(concrete, values, strict=True)
    )
    # Table and column names come from the models, values are parameters.
    sql = f"{first}UPDATE {table} SET {assign} FROM {rows} WHERE {table}.{pk} = {key}"  # noqa: S608
    with cursor() as c:
        c.execute(sql, params)


def insert_new(model: type[models.Model], objects: list, *, unique: str) -> int:
    """Insert the unsaved `objects` (model instances or `Values`), leaving out those whose
    `unique` field's value is taken (by a row or an earlier object); return how many were
    inserted. Their ids are not set. One statement on PostgreSQL; Django's `bulk_create`
    elsewhere."""
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        taken = set(
            model.objects.filter(
                **{f"{unique}__in": [getattr(obj, unique) for obj in objects]}
            ).values_list(unique, flat=True)
        )
        new = [obj for obj in objects if getattr(obj, unique) not in taken]
        model.objects.bulk_create(_instances(model, new), ignore_conflicts=True)
        return len(new)
    column = connection.ops.quote_name(model._meta.get_field(unique).column)
    sql, params = _insert(model, objects)
    with cursor() as c:
        c.execute(f"{sql} ON CONFLICT ({column}) DO NOTHING", params)
        return c.rowcount


class History(SimpleNamespace):
    """The history rows to write with inserted rows (`insert_all(history=…)`): one per row,
    all with the same `reason`, author (`user_id`) and time (`when`), of type "+"."""


def insert_all(
    model: type[models.Model],
    objects: list,
    *,
    key: tuple[str, ...],
    history: History | None = None,
) -> None:
    """Insert the unsaved `objects` (model instances or `Values`) and set their ids, like
    `bulk_create`; `key` names fields whose values tell the objects apart (the ids come
    back with them, in whatever order the database returns them). With `history`, each row's
    history row ("+", django-simple-history's table) too. One statement on PostgreSQL: the
    history rows are copied from the inserted ones (a writable WITH), not read back by id."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        saved = model.objects.bulk_create(_instances(model, objects))
        for obj, instance in zip(objects, saved, strict=True):
            obj.pk = instance.pk
        if history is not None:
            copy_history(
                model,
                [obj.pk for obj in objects],
                [history.reason] * len(objects),
                history_type="+",
                user_id=history.user_id,
                when=history.when,
            )
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    returned = ", ".join(quote(model._meta.get_field(name).column) for name in key)
    sql, params = _insert(model, objects)
    if history is None:
        sql = f"{sql} RETURNING {quote(pk.column)}, {returned}"
    else:
        copied, history_insert = _history_columns(model, "new")
        # Table and column names come from the model; values are parameters.
        sql = (
            f"WITH new AS ({sql} RETURNING *), "  # noqa: S608
            f"history AS ({history_insert} SELECT {copied}, %s, %s, '+', %s FROM new) "
            f"SELECT {quote(pk.column)}, {returned} FROM new"
        )
        params = [*params, history.when, history.reason, history.user_id]
    with cursor() as c:
        c.execute(sql, params)
        ids = {tuple(values): pk_value for pk_value, *values in c.fetchall()}
    if len(ids) != len(objects):
        # Rows inserted all the same: the caller's transaction is what undoes them.
        raise ValueError(f"{key} does not tell the {len(objects)} objects apart")
    attnames = [model._meta.get_field(name).attname for name in key]
    for obj in objects:
        obj.pk = ids[tuple(getattr(obj, attname) for attname in attnames)]
        if isinstance(obj, models.Model):
            obj._state.adding, obj._state.db = False, connection.alias


def insert_numbered(model: type[models.Model], objects: list[models.Model]) -> None:
    """Insert the unsaved model instances and set their ids, like `bulk_create`: the ids
    drawn from the table's sequence first (one query), so each object knows its own
    whatever order the rows are written in, then one INSERT of binary arrays. Foreign keys
    to objects saved meanwhile are read from them, as `bulk_create` does. Writing
    thousands of rows, this is a fraction of `bulk_create`'s time, most of which is
    quoting every value into the SQL text. PostgreSQL only."""
    if not objects:
        return
    meta = model._meta
    for obj in objects:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    with connection.cursor() as c:
        c.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objects)],
        )
        ids = [row[0] for row in c.fetchall()]
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
    sql, params = _insert(model, objects, with_ids=True)
    with cursor() as c:
        c.execute(sql, params)
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias


def copy_history(model, pks: list, reasons: list[str], *, history_type: str, user_id, when):
    """One history row per row of `model` in `pks` (django-simple-history's table), copied
    by the database from the row as it is now (INSERT … SELECT), with the reason of each,
    its type ("+" created, "~" changed), author and time."""
    quote = connection.ops.quote_name
    history = model.history.model
    copied, history_sql = _history_columns(model, "t")
    first, rows, first_params, rows_params = rows_table(
        [model._meta.pk, history._meta.get_field("history_change_reason")],
        [pks, reasons],
        "pk_, reason",
    )
    sql = (
        f"{first}{history_sql} SELECT {copied}, %s, v.reason, %s, %s "  # noqa: S608
        f"FROM {quote(model._meta.db_table)} t "
        f"JOIN {rows} ON t.{quote(model._meta.pk.column)} = v.pk_"
    )
    with cursor() as c:
        c.execute(sql, [*first_params, when, history_type, user_id, *rows_params])


def _history_columns(model, alias: str) -> tuple[str, str]:
    """The row's columns as `alias.<column>, …`, and the start of the history table's INSERT
    naming them and then history_date, history_change_reason, history_type and
    history_user_id: what the SELECT of a copy gives, in that order."""
    history = model.history.model
    own = {"history_id", "history_date", "history_change_reason", "history_type", "history_user_id"}
    quote = connection.ops.quote_name
    columns = [f.column for f in history._meta.concrete_fields if f.attname not in own]
    copied = ", ".join(f"{alias}.{quote(c)}" for c in columns)
    target = ", ".join(quote(c) for c in columns)
    insert = (
        f"INSERT INTO {quote(history._meta.db_table)} ({target}, history_date, "
        "history_change_reason, history_type, history_user_id)"
    )
    return copied, insert


def _instances(model: type[models.Model], objects: list) -> list[models.Model]:
    """Model instances of `objects` (`Values` made into instances), for `bulk_create`."""
    return [obj if isinstance(obj, models.Model) else model(**vars(obj)) for obj in objects]


def _insert(model: type[models.Model], objects: list, *, with_ids=False) -> tuple[str, list]:
    """INSERT … SELECT FROM unnest of one array per column (PostgreSQL); the ids too
    when `with_ids` (set beforehand), else the table's sequence numbers the rows."""
    fields = [f for f in model._meta.concrete_fields if with_ids or not f.primary_key]
    selected, rows, params = _arrays(fields, [_column(field, objects) for field in fields])
    quote = connection.ops.quote_name
    target = ", ".join(quote(f.column) for f in fields)
    # Table and column names come from the model; values are parameters.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({target}) "  # noqa: S608
        f"SELECT {', '.join(selected)} FROM {rows}"
    )
    return sql, params


def _arrays(fields: list, columns: list[list], *, first_varies=False) -> tuple[list, str, list]:
    """How a statement reads each field's column of values (from `_column`), PostgreSQL:
    `v.cN`, from `unnest` of one array per column; or, when every row holds the same value
    (a mail's kind, the day of a nightly step, a blank error), one parameter instead of an
    array of copies. JSON travels as text, read as jsonb. Returns the expressions, the FROM
    item, and the parameters in statement order (the expressions' first); the first
    column is always an array when `first_varies` (the key an UPDATE joins on)."""
    once = [_one_value(values) for values in columns]
    if first_varies or all(once):
        once[0] = False  # at least one array: it gives the statement its rows
    varying, same, expressions = [], [], []
    for field, values, sent_once in zip(fields, columns, once, strict=True):
        json_ = isinstance(field, models.JSONField)
        cast = "::jsonb" if json_ else ""
        if sent_once:
            same.append(values[0])
            expressions.append(f"%s::{'text' if json_ else field.cast_db_type(connection)}{cast}")
        else:
            expressions.append(f"v.c{len(varying)}{cast}")
            varying.append((_TEXT if json_ else field, values))
    kinds, arrays = zip(*varying, strict=True)
    names = ", ".join(f"c{i}" for i in range(len(varying)))
    _, rows, _, params = rows_table(kinds, list(arrays), names)
    return expressions, rows, [*same, *params]


def _one_value(values: list) -> bool:
    """Every value the same, and of the same type (1 and True, 1 and 1.0 are not)."""
    # Both passes in C: the types first, then the values.
    return len(set(map(type, values))) == 1 and values.count(values[0]) == len(values)


class Values(SimpleNamespace):
    """A row to insert as plain attributes, named like the model's fields (`license_id`,
    not `license`): what `insert_new` and `insert_all` read of an object. A field not given
    takes its default, as in the model's constructor. Thousands of model instances, each
    asking every field it was not given for its default, took longer than their INSERT
    (the nightly usage check's 5,430 mails: 0.1 s)."""


def _column(field, objects: list) -> list:
    """The field's value of each object, as the INSERT sends it (one pass per column:
    the field's kind is looked at once, not once per value)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        # One time for the rows of one statement, as the database's now() gives them: sent
        # once (`_arrays`), not as an array of thousands of times microseconds apart.
        now = field.pre_save(objects[0], add=True)
        for obj in objects[1:]:
            setattr(obj, field.attname, now)
        return [now] * len(objects)
    values = [getattr(obj, field.attname, _MISSING) for obj in objects]
    if _MISSING in values:
        # A default that is a callable is called for each row, as the constructor does
        # (no default at all, NOT_PROVIDED, is a class: callable, yet one value, None or "").
        if field.has_default() and callable(field.default):
            values = [field.get_default() if v is _MISSING else v for v in values]
        else:
            constant = field.get_default()
            values = [constant if v is _MISSING else v for v in values]
    if isinstance(field, models.JSONField):
        dumps = json.JSONEncoder if field.encoder is None else field.encoder
        encode = dumps().encode
        # Rows often share one value object (a mail's parameters, one row per recipient):
        # each object is encoded once. The list holds them all, so no id is reused meanwhile.
        encoded: dict[int, str] = {}
        for value in values:
            if id(value) not in encoded:
                encoded[id(value)] = encode(value)
        return [encoded[id(value)] for value in values]
    if not all(map(isinstance, values, repeat(_PLAIN))):
        # A value the field turns into another to store (a Country into its code).
        return [field.get_db_prep_save(value, connection) for value in values]
    return values


# What a column's array takes as it is.
_PLAIN = (str, int, float, Decimal, date, datetime, NoneType)


_MISSING = object()


class _Text:
    """A column's array type when it travels as text."""

    def cast_db_type(self, connection):
        return "text"


_TEXT = _Text()
