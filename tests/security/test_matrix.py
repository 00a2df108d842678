"""Role × admin view × verb, generated over every registered admin model.

For each role, every model admin is asked for its list, add, change view, change POST,
delete (page and POST), history, history detail (GET and a revert POST), the autocomplete
endpoints that list it, and each of its actions. What a role must not see is decided by an
oracle independent of the code under test: the region a row belongs to, found by walking
its foreign keys to a Region (channel managers), and the opportunity's solution architect
(architects, on licensing data). The rule: never a 200 with a hidden row, never a change to
one; and everything a role may do by its permissions answers 200.
"""

from __future__ import annotations

from collections import Counter, deque

import pytest
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from partners.models import Region
from tests.security.world import build

pytestmark = pytest.mark.django_db

ROLES = ["lt", "auditor", "root", "cm_a", "sa_a"]
VERBS = Counter()
LICENSING_DATA = {  # what solution architects see of licensing data: their assignments
    "licensing.license": "opportunity__solution_architect",
    "licensing.extension": "license__opportunity__solution_architect",
    "licensing.infrastructure": "licenses__opportunity__solution_architect",
    "licensing.notification": "license__opportunity__solution_architect",
    "partners.opportunity": "solution_architect",
}


def region_path(model, depth=5) -> str | None:
    """Forward foreign keys from `model` to Region, found by breadth-first search."""
    if model is Region:
        return ""
    queue = deque([(model, "")])
    seen = {model}
    while queue:
        current, path = queue.popleft()
        if path.count("__") >= depth:
            continue
        for field in current._meta.get_fields():
            if not isinstance(field, models.ForeignKey):
                continue
            target = field.remote_field.model
            step = f"{path}__{field.name}" if path else field.name
            if target is Region:
                return step
            if target not in seen:
                seen.add(target)
                queue.append((target, step))
    return None


def hidden_rows(model, user, world) -> list:
    label = model._meta.label_lower
    if user.username == "cm_a":
        path = region_path(model)
        if path is None:
            return []
        lookup = f"{path}__code" if path else "code"
        return list(model._default_manager.filter(**{lookup: "region-b"})[:3])
    if user.username == "sa_a" and label in LICENSING_DATA:
        return list(model._default_manager.exclude(**{LICENSING_DATA[label]: user})[:3])
    return []


def snapshot(obj):
    return obj.__class__._default_manager.filter(pk=obj.pk).values().first()


def admin_url(model, view, *args):
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def autocomplete_sources(model):
    for source_model, source_admin in admin.site._registry.items():
        for field_name in source_admin.get_autocomplete_fields(None):
            field = source_model._meta.get_field(field_name)
            if field.remote_field.model is model:
                yield source_model, field_name


def history_id(obj):
    history = getattr(obj.__class__, "history", None)
    record = history.filter(id=obj.pk).order_by("-history_date").first() if history else None
    return record.history_id if record else None


def check_model(client, user, model, model_admin, world, problems):
    request = RequestFactory().get("/")
    request.user = user
    may_view = model_admin.has_view_or_change_permission(request)
    hidden = hidden_rows(model, user, world)
    name = f"{user.username} {model._meta.label}"

    def expect(verb, condition, detail=""):
        VERBS[verb] += 1
        if not condition:
            problems.append(f"{name} {verb}: {detail}")

    # list
    response = client.get(admin_url(model, "changelist"))
    expect("list", response.status_code == (200 if may_view else 403), response.status_code)
    if response.status_code == 200:
        html = response.content.decode()
        for obj in hidden:
            expect("list", admin_url(model, "change", obj.pk) not in html, f"shows {obj!r}")
    # add
    may_add = model_admin.has_add_permission(request)
    response = client.get(admin_url(model, "add"))
    expect("add", response.status_code == (200 if may_add else 403), response.status_code)

    visible = model_admin.get_queryset(request).first() if may_view else None
    if visible is not None and visible not in hidden:
        for verb, view in (("view", "change"), ("history", "history")):
            response = client.get(admin_url(model, view, visible.pk))
            expect(verb, response.status_code == 200, f"own row: {response.status_code}")
        hid = history_id(visible)
        if hid:
            url = admin_url(model, "simple_history", visible.pk, hid)
            expect("history detail", client.get(url).status_code == 200, "own row")
            before = snapshot(visible)
            response = client.post(url, {})
            expect("history revert", response.status_code in (403, 405), response.status_code)
            expect("history revert", snapshot(visible) == before, "reverted")
        if not model_admin.has_change_permission(request, visible):
            before = snapshot(visible)
            client.post(admin_url(model, "change", visible.pk), {})
            expect("change", snapshot(visible) == before, "changed without permission")
        if not model_admin.has_delete_permission(request, visible):
            client.post(admin_url(model, "delete", visible.pk), {"post": "yes"})
            expect("delete", snapshot(visible) is not None, "deleted without permission")

    for obj in hidden:
        before = snapshot(obj)
        for verb, view in (("view", "change"), ("history", "history"), ("delete", "delete")):
            response = client.get(admin_url(model, view, obj.pk))
            expect(verb, response.status_code != 200, f"{view} of hidden {obj!r}")
        hid = history_id(obj)
        if hid:
            response = client.get(admin_url(model, "simple_history", obj.pk, hid))
            expect("history detail", response.status_code != 200, f"hidden {obj!r}")
        client.post(admin_url(model, "change", obj.pk), {})
        client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})
        for action in model_admin.get_actions(request):
            client.post(
                admin_url(model, "changelist"),
                {"action": action, "_selected_action": [obj.pk], "index": 0, "reason": "x"},
            )
            VERBS[f"action {action}"] += 1
        expect("change", snapshot(obj) == before, f"hidden {obj!r} changed")

    for source_model, field_name in autocomplete_sources(model):
        response = client.get(
            "/admin/autocomplete/",
            {
                "app_label": source_model._meta.app_label,
                "model_name": source_model._meta.model_name,
                "field_name": field_name,
                "term": "",
            },
        )
        if response.status_code == 200:
            ids = {item["id"] for item in response.json()["results"]}
            leaked = [obj for obj in hidden if str(obj.pk) in ids]
            expect("autocomplete", not leaked, f"{source_model.__name__}.{field_name}: {leaked}")
        else:
            expect("autocomplete", response.status_code == 403, response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_view_and_verb_respects_the_role_and_its_scope(client, role):
    world = build()
    user = world.users[role]
    client.force_login(user)
    problems: list[str] = []
    for model, model_admin in admin.site._registry.items():
        check_model(client, user, model, model_admin, world, problems)
    assert not problems, "\n".join(problems)
    print(f"{role}: {sum(VERBS.values())} role x view x verb checks so far: {dict(VERBS)}")
    # The oracle must have had something to hide from the scoped roles.
    if role in ("cm_a", "sa_a"):
        assert sum(len(hidden_rows(m, user, world)) for m in admin.site._registry) > 10
