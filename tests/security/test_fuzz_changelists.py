"""Fuzzing every changelist's query string with Hypothesis: whatever the filters, never a 500.

For every registered model admin, logged in as the licensing team (as a superuser for the
lists that are not the team's: users, groups, login attempts): query
strings of one to three parameters, named after the list's own filters (every parameter its
list_filter entries read), its search, ordering and paging, sometimes with a nasty character
spliced in; valued with what the filters offer, plain or with a NUL byte or a lone surrogate
(sent as its UTF-8 bytes, as a broken client would) spliced in, with odd and random text, or
with very long strings. The answers allowed: the list
(200), Django's "invalid filter" redirect (302) and the input-hygiene layer's 400.

ADMIN_FUZZ_EXAMPLES sets the examples per changelist (default 50).
"""

from __future__ import annotations

import os
from collections import Counter
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partners.middleware import MAX_QUERY_VALUE
from tests.security.world import build

EXAMPLES = int(os.environ.get("ADMIN_FUZZ_EXAMPLES", "50"))
ANSWERS = {200, 302, 400}
APPS = {"partners", "licensing", "ipp"}
MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)

NASTY = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\ufffe", "'", '"', "\\", "%"]
ODD = [
    "",
    "0",
    "-1",
    "1.5",
    "99999999999999999999999",
    "2026-02-30",
    "9999-12-31",
    "yes",
    "None",
    "[]",
    "%00",
    "__",
    "a,b",
]
text = st.text(st.sampled_from(NASTY) | st.characters(codec=None), max_size=40)
# Over the layer's limit, and up to past SQLite's: it cannot search for a term over 50 kB.
long_text = (st.just(30_000) | st.integers(MAX_QUERY_VALUE - 2, 30_000)).map(lambda n: "é" * n)


@st.composite
def spiked(draw, strategy):
    """A value of `strategy` with a nasty character spliced in somewhere."""
    value = draw(strategy)
    at = draw(st.integers(0, len(value)))
    # NUL most often: it is what PostgreSQL refuses.
    return value[:at] + draw(st.just("\x00") | st.sampled_from(NASTY)) + value[at:]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One world for every changelist of the module (building it takes seconds), rolled
    back when the module is done; each test runs inside it, in a savepoint of its own."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build()
        transaction.set_rollback(True)


def filter_parameters(model_admin, user) -> tuple[list[str], list[tuple[str, str]]]:
    """The parameter names the list reads (its filters', search, ordering, paging), and the
    (name, value) pairs its filters' choices link to."""
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names, offered = {"q", "o", "p", "all", "e", "_to_field", "_changelist_filters"}, set()
    for spec in changelist.filter_specs:
        names.update(spec.expected_parameters())
        for choice in spec.choices(changelist):
            offered.update(parse_qsl(choice.get("query_string", "").lstrip("?")))
    return sorted(names), sorted(offered)


def query_string(pairs) -> str:
    # surrogatepass: a lone surrogate goes out as its UTF-8 bytes (%ED%A0%80).
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label_lower)
def test_no_changelist_query_string_is_a_500(client, world, db, model):
    model_admin = admin.site._registry[model]
    user = world.users["lt"]
    request = RequestFactory().get("/")
    request.user = user
    if not model_admin.has_view_or_change_permission(request):
        # Users and login attempts (auth, axes) are not the licensing team's lists: a
        # superuser's, fuzzed as such.
        assert model._meta.app_label not in APPS
        user = world.users["root"]
    client.force_login(user)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    names, offered = filter_parameters(model_admin, user)
    own_names = st.sampled_from(names)
    # One unknown name and Django sends the whole query string back ("?e=1") before any
    # filter reaches the database: most parameters are the list's own.
    params = st.one_of(
        st.sampled_from(offered or [("q", "")]),  # a filter as the list links to it
        st.sampled_from(offered or [("q", "")]).flatmap(
            lambda pair: st.tuples(st.just(pair[0]), spiked(st.just(pair[1])))
        ),
        st.tuples(own_names, st.sampled_from(ODD) | text),
        st.tuples(spiked(own_names), st.sampled_from(ODD)),
        st.tuples(own_names, long_text),
    )
    answers = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(pairs=st.lists(params, min_size=1, max_size=3))
    def ask(pairs):
        response = client.get(f"{url}?{query_string(pairs)}")
        assert response.status_code in ANSWERS, (response.status_code, pairs)
        answers[response.status_code] += 1

    ask()
    print(f"\n{model._meta.label}: {sum(answers.values())} query strings, {dict(answers)}")
    assert sum(answers.values()) >= EXAMPLES
    # Both sides of the hygiene layer were reached: refusals, and lists drawn or redirected.
    assert answers[400] > 0 and answers[200] + answers[302] > 0
