"""Every admin URL × every role × objects of another scope: no out-of-scope value in a body.

The routes come from the URL resolver (everything under /admin/: Django's views, those each
admin adds in `get_urls` such as the IPP overview, token issue and transitions, and the mail
previews of config/urls.py), their objects from the admin registry, so a view added tomorrow
is requested by the next run without anyone writing a test for it. A route whose parameters
this module cannot fill fails the run rather than going unchecked.

Each route with an id is asked for with rows the role may see (those linked to rows it may
not see first: their pages are where an inline, a list of related rows or a "permissions in"
table would show too much), with a row of another scope, and with an id that names nothing.
A route that refuses GET is POSTed with a body naming rows of another scope, inside a
transaction rolled back afterwards so the world stays as built, and its redirect followed to
read the message it leaves. An export is asked for as CSV too, an add form with a foreign
key preset to a row of another scope, each list action on one row of each. Then:
- no body names a row the role may not see: its identifying values (names, prospect names,
  registration ids, emails, keys, its `str()`) and its admin URL, unless a row the role sees
  holds the same value;
- no body shows a secret (activation codes, API tokens and their hashes), whoever asks;
- a row of another scope gets the same status as an id that names nothing;
- nothing answers 500.

What a role may not see is decided by an oracle independent of the admin under test, as in
test_matrix: for a channel manager, the rows whose first foreign-key path to a Region leads
to region B; for a solution architect, the licensing data (licensing, ipp, opportunities)
not assigned to them. Regions and users are reference data every role may name (the filters
and the channel-manager select list them), so their names are not counted. The roles that see
everything have nothing to keep out but secrets; on their pages the test finds most values
the scoped roles must not see, which shows the search would find them.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import count

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import models, transaction
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from licensing import previews
from licensing.models import Infrastructure, License
from partners.admin_tools import SECRET_FIELDS
from partners.models import Opportunity, Region
from tests.security.test_matrix import region_path
from tests.security.world import build

pytestmark = pytest.mark.django_db

ROLES = ["lt", "auditor", "root", "cm_a", "sa_a"]
SCOPED = {"cm_a", "sa_a"}
NOWHERE = "999999"
SKIPPED = {
    "logout": "ends the session the other requests run in",
    None: "the admin's catch-all (404) and its `<id>/` redirect to the change page",
}
IN_SCOPE_PROBES = 2  # rows the role may see, per model and route
OUT_OF_SCOPE_PROBES = 1


# --- The oracle --------------------------------------------------------------------------

# Licensing data is assigned to a solution architect through these paths; a model of the
# licensing data reaches one of them through its foreign keys.
ASSIGNED = {
    License: "opportunity__solution_architect",
    Infrastructure: "licenses__opportunity__solution_architect",
    Opportunity: "solution_architect",
}
LICENSING_APPS = {"licensing", "ipp"}
REFERENCE_DATA = {Region, *(m for m in admin.site._registry if m._meta.app_label == "auth")}


def architect_path(model) -> str | None:
    if model in ASSIGNED:
        return ASSIGNED[model]
    queue, seen = deque([(model, "")]), {model}
    while queue:
        current, path = queue.popleft()
        for f in current._meta.get_fields():
            if isinstance(f, models.ForeignKey) and f.related_model not in seen:
                step = f"{path}__{f.name}" if path else f.name
                if f.related_model in ASSIGNED:
                    return f"{step}__{ASSIGNED[f.related_model]}"
                seen.add(f.related_model)
                queue.append((f.related_model, step))
    return None


def out_of_scope(model, user) -> models.QuerySet:
    """The rows of `model` that `user` may not see (the oracle, not the admin's scope)."""
    manager = model._default_manager
    if model in REFERENCE_DATA:
        return manager.none()
    if user.username == "cm_a":
        path = region_path(model)
        if path is None:
            return manager.none()
        return manager.filter(**{f"{path}__code" if path else "code": "region-b"})
    if user.username == "sa_a":
        licensing_data = model._meta.app_label in LICENSING_APPS or model is Opportunity
        path = architect_path(model) if licensing_data else None
        return manager.exclude(**{path: user}) if path else manager.none()
    return manager.none()


TEXT_FIELDS = (models.CharField, models.TextField, models.UUIDField)  # emails, URLs included
WORD = re.compile(r"[^\W\d]+")  # "service", "Production": words any page may say


def data_models() -> list:
    """Every model whose rows a page may show: the registered ones, and our apps' others
    (environments, shown inside the license and infrastructure pages); not their history."""
    ours = [
        m
        for label in ("partners", "licensing", "ipp")
        for m in apps.get_app_config(label).get_models()
        if not m._meta.model_name.startswith("historical")
    ]
    return list(dict.fromkeys([*admin.site._registry, *ours]))


def identifying_values(obj) -> set[str]:
    values = {str(obj)}
    for f in obj._meta.concrete_fields:
        if isinstance(f, TEXT_FIELDS) and not f.choices:
            value = getattr(obj, f.attname)
            values.add(str(value) if value is not None else "")
    return {v for v in values if len(v) >= 5 and not WORD.fullmatch(v)}


def admin_url_of(obj) -> str:
    opts = obj._meta
    return f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/"


def secrets(world) -> set[str]:
    found = set(world.tokens)
    for label, names in SECRET_FIELDS.items():
        model = apps.get_model(label)
        for row in model._default_manager.values_list(*names):
            found.update(v for v in row if v)
    return found


@dataclass
class Scope:
    """What one role may not see: per model, the rows; overall, the values naming them."""

    hidden: dict = field(default_factory=dict)  # model -> [rows]
    forbidden: dict = field(default_factory=dict)  # value -> the row it names


def scope_of(user, world) -> Scope:
    result = Scope()
    visible_values: set[str] = set()
    for model in data_models():
        hidden = list(out_of_scope(model, user))
        result.hidden[model] = hidden
        ids = {row.pk for row in hidden}
        for row in model._default_manager.all():
            if row.pk in ids:
                for value in identifying_values(row):
                    result.forbidden.setdefault(value, row)
                if model in admin.site._registry:
                    result.forbidden[admin_url_of(row)] = row
            else:
                visible_values |= identifying_values(row)
    for value in list(result.forbidden):
        if any(value in seen for seen in visible_values):
            del result.forbidden[value]  # a row the role sees says it too
    for secret in secrets(world):
        result.forbidden[secret] = "a secret"
    return result


def linked_to(rows, hidden: dict) -> list:
    """`rows` with those related to a hidden row first: their pages are where leaks show."""
    if not rows:
        return rows
    model = rows[0].__class__
    linked = set()
    for f in model._meta.get_fields():
        if f.is_relation and f.related_model in hidden and hidden[f.related_model]:
            ids = [row.pk for row in hidden[f.related_model]]
            query = model._default_manager.filter(**{f"{f.name}__in": ids})
            linked.update(query.values_list("pk", flat=True))
    return sorted(rows, key=lambda row: (row.pk not in linked, row.pk))


# --- The routes --------------------------------------------------------------------------

CONVERTER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")
GROUP = re.compile(r"\((?:\?P<(?P<name>\w+)>)?[^()]*\)")


def template(pattern) -> str:
    """The pattern with `{name}` where its parameters go (`{arg0}` for unnamed groups)."""
    if isinstance(pattern, RoutePattern):
        return CONVERTER.sub(lambda m: f"{{{m['name']}}}", str(pattern._route))
    positional = count()
    regex = pattern._regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    return GROUP.sub(lambda m: f"{{{m['name'] or f'arg{next(positional)}'}}}", regex)


@dataclass
class Route:
    name: str | None
    path: str  # "/admin/ipp/application/infrastructure/{pk}/"
    callback: object

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def model_admin(self):
        view = self.callback
        while view is not None:
            found = getattr(view, "model_admin", None) or getattr(view, "__self__", None)
            if isinstance(found, admin.ModelAdmin):
                return found
            view = getattr(view, "__wrapped__", None)
        return None

    def model_of(self, param: str):
        """The model an id parameter names: `<model>_id`, else the path segment before it
        (`infrastructure/{pk}/`, `license/{object_id}/change/`), else the view's admin."""
        by_name = {m._meta.model_name: m for m in admin.site._registry}
        if param.endswith("_id") and param[:-3] in by_name:
            return by_name[param[:-3]]
        before = self.path.split("{" + param + "}")[0].rstrip("/").rsplit("/", 1)[-1]
        if before in by_name:
            return by_name[before]
        return self.model_admin.model if self.model_admin else None


def admin_routes() -> list[Route]:
    routes = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + template(p.pattern))
            elif isinstance(p, URLPattern):
                path = "/" + prefix + template(p.pattern)
                if path.startswith("/admin/"):
                    routes.append(Route(p.name, path, p.callback))

    walk(get_resolver().url_patterns, "")
    return routes


def history_id(obj) -> str:
    history = getattr(obj.__class__, "history", None)
    record = history.filter(id=obj.pk).order_by("-history_id").first() if history else None
    return str(record.history_id) if record else NOWHERE


@dataclass
class Request:
    url: str
    probe: str  # "in scope", "out of scope", "nowhere", "" (no object)
    group: str = ""  # requests of one route and vocabulary, compared across probes


def vocabulary(route: Route, param: str) -> list[str]:
    """Values of a parameter that names no row."""
    if param == "name":  # a transition
        return [t.name for t in getattr(route.model_admin, "transitions", ())]
    if param == "kind":  # a mail preview
        return list(previews.KINDS)
    if param == "app_label":
        return sorted({m._meta.app_label for m in admin.site._registry})
    raise LookupError(param)


def requests_for(route: Route, scope: Scope, user) -> list[Request]:
    """Every request of `route` for this role, or LookupError when a parameter cannot be
    filled (a new kind of route: teach `vocabulary` or `Route.model_of` about it)."""
    params = route.params
    if not params:
        return [Request(route.path, "")]
    object_params = [p for p in params if p not in ("arg1", "content_type_id")]
    fixed = {}
    for param in list(object_params):
        try:
            fixed[param] = vocabulary(route, param)
            object_params.remove(param)
        except LookupError:
            pass
    if "content_type_id" in params:
        models_ = list(admin.site._registry)
    else:
        model = route.model_of(object_params[0]) if object_params else None
        if object_params and (model is None or len(object_params) > 1):
            raise LookupError(f"{route.path}: which model do {object_params} name?")
        models_ = [model] if model else [None]

    result = []
    for model in models_:
        probes = [("", None)]
        if model is not None:
            hidden = scope.hidden.get(model, [])
            hidden_ids = {row.pk for row in hidden}
            visible = [r for r in model._default_manager.all() if r.pk not in hidden_ids]
            if user.username in SCOPED:
                probes = [("in scope", r) for r in linked_to(visible, scope.hidden)]
                probes = probes[:IN_SCOPE_PROBES]
                probes += [("out of scope", r) for r in hidden[:OUT_OF_SCOPE_PROBES]]
            else:  # they see everything: objects of region B, as the other roles' "other"
                others = scope_of_region_b(model)
                probes = [("in scope", r) for r in (others or visible)[:OUT_OF_SCOPE_PROBES]]
            probes.append(("nowhere", None))
        for probe, obj in probes:
            values = {}
            if model is not None:
                pk = str(obj.pk) if obj is not None else NOWHERE
                values = dict.fromkeys(object_params, pk)
                values["arg1"] = history_id(obj) if obj is not None else NOWHERE
                values["content_type_id"] = str(ContentType.objects.get_for_model(model).pk)
            combos = [values]
            for param, choices in fixed.items():
                combos = [{**c, param: choice} for c in combos for choice in choices]
            for combo in combos:
                group = f"{model and model._meta.label} " + " ".join(
                    f"{p}={combo[p]}" for p in fixed
                )
                result.append(Request(route.path.format(**combo), probe, group.strip()))
    return result


def scope_of_region_b(model) -> list:
    path = region_path(model)
    if path is None or model in REFERENCE_DATA:
        return []
    lookup = f"{path}__code" if path else "code"
    return list(model._default_manager.filter(**{lookup: "region-b"})[:OUT_OF_SCOPE_PROBES])


def autocomplete_queries() -> list[dict]:
    return [
        {
            "app_label": model._meta.app_label,
            "model_name": model._meta.model_name,
            "field_name": name,
            "term": "",
        }
        for model, model_admin in admin.site._registry.items()
        for name in model_admin.get_autocomplete_fields(None)
    ]


def add_queries(route: Route, scope: Scope) -> list[str]:
    """The add form with a foreign key preset to a hidden row (`add/?partner=<id>`)."""
    model_admin = route.model_admin
    if model_admin is None or not route.name.endswith("_add"):
        return []
    queries = []
    for f in model_admin.model._meta.get_fields():
        if f.concrete and f.is_relation and scope.hidden.get(f.related_model):
            queries.append(f"?{f.name}={scope.hidden[f.related_model][0].pk}")
    return queries


def action_posts(route: Route, scope: Scope, user) -> list[tuple[str, dict]]:
    """Each list action offered to the role, on a row it sees and one of another scope: the
    page the action answers with (a confirmation, a reason to give) lists the rows it got."""
    model_admin = route.model_admin
    if model_admin is None or not route.name.endswith("_changelist"):
        return []
    request = RequestFactory().get(route.path)
    request.user = user
    model = model_admin.model
    hidden = scope.hidden.get(model) or scope_of_region_b(model)
    ids = {row.pk for row in hidden}
    mine = model_admin.get_queryset(request).exclude(pk__in=ids).first()
    selected = [row.pk for row in [mine, *hidden[:1]] if row is not None]
    return [
        (name, {"action": name, "_selected_action": selected, "index": 0})
        for name in model_admin.get_actions(request)
        if selected
    ]


# --- Asking ------------------------------------------------------------------------------

# A reason and a confirmation, for the transitions and actions that ask for them.
POST_PROBE = {"reason": "probe", "confirm": "yes"}


def post_body(scope: Scope) -> dict:
    """A POST naming out-of-scope rows wherever a form could take them: each field name of
    each model, with the value of a hidden row (`application_key`, `target_registration_id`,
    `infrastructure`, ...)."""
    body = dict(POST_PROBE)
    for model, rows in scope.hidden.items():
        for row in rows[:1]:
            for f in model._meta.concrete_fields:
                value = getattr(row, f.attname)
                if value not in (None, "") and f.name not in body:
                    body[f.name] = str(value)
                    if f.attname != f.name:
                        body[f.attname] = str(value)
    return body


def body_of(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8", "replace")


def export_form(body: str) -> dict:
    fields = re.findall(r'name="([a-z]+resource_[a-z_]+)"', body)
    formats = {
        label: value
        for value, label in re.findall(r'<option value="(\d+)"[^>]*>([a-z]+)</option>', body)
    }
    return {"format": formats.get("csv", "0"), "resource": "0", **dict.fromkeys(fields, "on")}


def ask(client, method, url, data=None):
    """One request; a POST's writes are rolled back so the next request sees the world
    as built."""
    with transaction.atomic():
        if method == "post":
            response = client.post(url, data or {}, follow=True)
        else:
            response = client.get(url, data)
        transaction.set_rollback(True)
    return response


def variants(text: str) -> tuple[str, ...]:
    return (text, html.escape(text), json.dumps(text)[1:-1])


@dataclass
class Report:
    """What one role's requests found. `control`: values of the scoped roles' other scope,
    looked for in the bodies of roles that see everything, to show the search would find
    them (an escaping the search missed would make every run pass)."""

    role: str
    scope: Scope
    control: set = field(default_factory=set)
    requests: int = 0
    routes: set = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    leaks: list = field(default_factory=list)
    hints: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    seen: set = field(default_factory=set)

    def read(self, response, route: Route, label: str):
        self.requests += 1
        self.routes.add(route.path)
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.errors.append(f"{label}: {response.status_code}")
            return
        body = body_of(response)
        for value, row in self.scope.forbidden.items():
            if any(v in body for v in variants(value)):
                self.leaks.append(f"{label}: {value!r} of {row!r}")
        self.seen |= {c for c in self.control - self.seen if any(v in body for v in variants(c))}


def run_route(client, route: Route, scope: Scope, user, report: Report, body: dict):
    answers: dict[str, dict[str, int]] = {}
    for request in requests_for(route, scope, user):
        label = f"{user.username} GET {request.url} ({request.probe or 'no object'})"
        response = ask(client, "get", request.url)
        method = "GET"
        if response.status_code == 405:
            method, label = "POST", label.replace(" GET ", " POST ")
            response = ask(client, "post", request.url, body)
            status = response.redirect_chain[0][1] if response.redirect_chain else None
        else:
            status = response.status_code
        report.read(response, route, label)
        answers.setdefault(request.group, {})[request.probe] = status or response.status_code
        if method == "GET" and response.status_code == 200 and route.name.endswith("_export"):
            report.read(
                ask(client, "post", request.url, export_form(body_of(response))),
                route,
                label.replace(" GET ", " POST (csv) "),
            )
        for query in add_queries(route, scope):
            report.read(ask(client, "get", request.url + query), route, label + query)
    for name, data in action_posts(route, scope, user):
        label = f"{user.username} POST {route.path} action {name} on {data['_selected_action']}"
        report.read(ask(client, "post", route.path, data), route, label)
    if user.username in SCOPED:
        for group, statuses in answers.items():
            if "out of scope" in statuses and statuses["out of scope"] != statuses["nowhere"]:
                report.hints.append(f"{user.username} {route.path} [{group}]: {statuses}")


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One world for every role: built once, rolled back when the module ends."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build()
        transaction.set_rollback(True)


@pytest.mark.parametrize("role", ROLES)
def test_no_admin_page_shows_another_scopes_rows(client, world, role):
    cache.clear()  # dashboard figures of an earlier test's user with the same id
    user = world.users[role]
    client.force_login(user)
    client.raise_request_exception = False  # a 500 is reported with its URL, with the others
    scope = scope_of(user, world)
    control = set()
    if role not in SCOPED:
        for other in SCOPED:
            found = scope_of(world.users[other], world).forbidden
            control |= {value for value, row in found.items() if row != "a secret"}
    report = Report(role, scope, control)
    body = post_body(scope)
    unfilled = []
    routes = admin_routes()
    for route in routes:
        if route.name in SKIPPED:
            continue
        if route.name == "autocomplete":
            for query in autocomplete_queries():
                label = f"{role} GET {route.path}?{query['model_name']}.{query['field_name']}"
                report.read(ask(client, "get", route.path, query), route, label)
            continue
        try:
            run_route(client, route, scope, user, report, body)
        except LookupError as error:
            unfilled.append(str(error))

    print(
        f"\n{role}: {len(report.routes)} routes, {report.requests} requests, "
        f"{len(scope.forbidden)} values to keep out, statuses {dict(report.statuses)}, "
        f"{len(report.leaks)} leaks, {len(report.hints)} existence hints"
    )
    if control:
        print(f"{len(report.seen)} of {len(control)} values of the other scopes shown to {role}")
    # Printed whole (the assertion's message is cut short): each with the request it came from.
    print("\n".join([*unfilled, *report.errors, *report.leaks, *report.hints]))
    assert not unfilled, f"{len(unfilled)} routes this test cannot fill"
    assert not report.errors, f"{len(report.errors)} answers of 500"
    assert not report.leaks, f"{len(report.leaks)} values of another scope in a body"
    assert not report.hints, f"{len(report.hints)} routes tell another scope from nothing"
    # Every route was asked, and the scoped roles had something to keep out.
    asked = {r.path for r in routes if r.name not in SKIPPED}
    assert report.routes == asked, asked - report.routes
    if role in SCOPED:
        assert sum(map(len, scope.hidden.values())) > 10 and len(scope.forbidden) > 20
    else:
        # Those values are on the pages of whoever sees everything: the search finds them.
        # (Not all: an environment's endpoint shows on a license page not probed.)
        assert len(report.seen) >= 0.8 * len(control), sorted(control - report.seen)
