"""Odd input in the admin gets a clear answer, never a 500: NUL bytes, lone surrogates and
absurdly long values (400, partners.middleware), unknown export parameters (400), ids that
are not ids (Django's "doesn't exist" answer, or 404).

PostgreSQL refuses NUL in text while SQLite stores it: CI runs these on PostgreSQL, where a
NUL that slipped through is a 500.
"""

from urllib.parse import quote

import pytest
from django.http import HttpResponse

from partners.middleware import (
    MAX_FORM_VALUE,
    MAX_QUERY_VALUE,
    NOT_UTF8,
    TOO_LONG,
    InputHygieneMiddleware,
)
from partners.models import Partner

pytestmark = pytest.mark.django_db

AUTOCOMPLETE = "/admin/autocomplete/?app_label=partners&model_name=contact&field_name=partner"


@pytest.fixture
def staff(client, licensing_user, partner):
    client.force_login(licensing_user)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/partners/partner/?status__exact=%00",
        "/admin/licensing/license/?state__exact=%00",
        "/admin/partners/contact/?role__exact=a%00b",
        "/admin/partners/partner/?q=%00",
        "/admin/partners/partner/?%00=1",
        f"{AUTOCOMPLETE}&term=%00",
        "/admin/partners/partner/export-history/?status__exact=%00",
    ],
)
def test_a_nul_byte_in_a_filter_a_search_or_a_term_is_a_400(staff, url):
    response = staff.get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "status__exact=%ED%A0%80",  # a lone surrogate, as UTF-8 would encode it
        "q=%FF",  # not UTF-8 at all
        "%ED%B0%80=active",
    ],
)
def test_a_parameter_that_is_not_utf8_text_is_a_400(staff, query):
    response = staff.get(f"/admin/partners/partner/?{query}")
    assert response.status_code == 400
    assert response.content.decode() == NOT_UTF8


@pytest.mark.parametrize("where", ["value", "name"])
def test_an_absurdly_long_parameter_is_a_400(staff, where):
    long = "x" * (MAX_QUERY_VALUE + 1)
    query = f"q={long}" if where == "value" else f"{long}=1"
    # SQLite cannot run a search on a term that long: this was a 500 there.
    response = staff.get(f"/admin/partners/partner/?{query}")
    assert response.status_code == 400
    assert response.content.decode() == TOO_LONG.format(limit=MAX_QUERY_VALUE)


def test_ordinary_filters_and_searches_pass(staff, partner):
    at_the_limit = "x" * MAX_QUERY_VALUE
    for query in ("status__exact=active&q=Lisbon", f"q={at_the_limit}", "q=S%C3%A3o+Paulo"):
        assert staff.get(f"/admin/partners/partner/?{query}").status_code == 200, query
    assert partner.name in staff.get("/admin/partners/partner/?q=Lisbon").content.decode()


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize(
    ("value", "message"),
    [("Nul\x00Partner", "NUL"), ("x" * (MAX_FORM_VALUE + 1), "longer than")],
)
def test_a_form_field_with_a_nul_byte_or_absurdly_long_is_a_400(
    staff, region, encoding, value, message
):
    data = {"name": value, "status": "active", "country": "PT", "region": region.pk}
    if encoding == "urlencoded":
        body = "&".join(f"{k}={quote(str(v))}" for k, v in data.items())
        response = staff.post(
            "/admin/partners/partner/add/", body, content_type="application/x-www-form-urlencoded"
        )
    else:
        response = staff.post("/admin/partners/partner/add/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Partner.objects.filter(name__startswith=value[:3]).exists()


def test_a_json_body_is_left_to_the_view_that_reads_it(rf):
    """The layer checks query strings and form fields; a JSON API validates its own bodies
    (partners.hygiene.json_body) and answers in JSON."""
    layer = InputHygieneMiddleware(lambda request: HttpResponse("the view"))
    request = rf.post("/api/", '{"name": "\\u0000"}', content_type="application/json")
    assert layer(request).content == b"the view"


def test_a_view_may_still_read_the_body_of_a_form_the_layer_has_read(rf):
    layer = InputHygieneMiddleware(lambda request: HttpResponse(request.body[:2]))
    assert layer(rf.post("/api/", {"name": "x"})).content == b"--"  # multipart
    request = rf.post("/api/", "name=x", content_type="application/x-www-form-urlencoded")
    assert layer(request).content == b"na"


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("export", ["export-history/", "export/"])
def test_an_unknown_export_parameter_is_a_400_not_a_500(staff, export, method):
    response = getattr(staff, method)(f"/admin/partners/partner/{export}?foo=bar")
    assert response.status_code == 400
    assert "foo" not in response.content.decode()  # nothing of the request is echoed back


def test_a_history_id_that_is_not_a_number_is_answered_as_the_change_page_answers(staff, partner):
    history = staff.get("/admin/partners/partner/abc/history/")
    change = staff.get("/admin/partners/partner/abc/change/")
    assert (history.status_code, history["Location"]) == (change.status_code, change["Location"])
    assert history.status_code == 302  # to the admin index, "… doesn't exist"
    # A number no row has (even past bigint): the history of a deleted object, of which
    # there is none.
    huge = staff.get("/admin/partners/partner/99999999999999999999999/history/")
    assert huge.status_code == 404


@pytest.mark.parametrize("version", ["abc", "1.5", "999999999", "99999999999999999999999"])
def test_a_history_version_that_is_not_one_is_a_404(staff, partner, version):
    response = staff.get(f"/admin/partners/partner/{partner.pk}/history/{version}/")
    assert response.status_code == 404
