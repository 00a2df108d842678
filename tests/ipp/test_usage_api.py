"""POST /api/usage: the token decides the infrastructure; every refusal names what is wrong;
whatever the body, never a 500. And the OpenAPI document publishing both endpoints."""

import json
import logging
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipp import services, usage_api, views
from ipp.schemas import NAMES_INFRASTRUCTURE, UNKNOWN_FIELD
from licensing.models import UsageReport
from licensing.services import usage as rules
from partners import hygiene
from tests.factories import TODAY

pytestmark = pytest.mark.django_db

URL = "/api/usage"
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
REPORT = {
    "reported_on": YESTERDAY,
    "application_objects": 1200,
    "disk_gb": 3.5,
    "internal_users": 40,
    "external_users": 0,
    "internal_users_by_country": {"JP": 40},
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


@pytest.fixture
def token(target, licensing_user):
    return services.issue_token(target, by=licensing_user)


@pytest.fixture
def send(client):
    def send(body=None, *, token=None, header=None, raw=None, method="post", **changes):
        headers = {}
        if header is not None:
            headers["Authorization"] = header
        elif token is not None:
            headers["Authorization"] = f"Token {token}"
        data = (
            raw if raw is not None else json.dumps({**REPORT, **changes} if body is None else body)
        )
        return getattr(client, method)(
            URL, data=data, content_type="application/json", headers=headers
        )

    return send


def test_a_report_is_201_with_the_stored_report_of_the_tokens_infrastructure(send, token, target):
    response = send(token=token)

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    stored = UsageReport.objects.get()
    assert stored.infrastructure == target
    assert response.json() | {"received_at": None} == {
        "id": stored.pk,
        "infrastructure": target.registration_id,
        "reported_on": YESTERDAY,
        "application_objects": 1200,
        "disk_gb": "3.50",
        "internal_users": 40,
        "external_users": 0,
        "internal_users_by_country": {"JP": 40},
        "received_at": None,
    }


def test_a_second_report_of_the_day_replaces_the_first(send, token):
    send(token=token)
    response = send(token=token, application_objects=1300)
    assert response.status_code == 201
    assert UsageReport.objects.get().application_objects == 1300
    assert UsageReport.history.count() == 2


def test_each_token_reports_for_its_own_infrastructure_only(
    send, token, target, make_trial, licensing_user
):
    other = make_trial("Osaka Mutual").infrastructure
    other_token = services.issue_token(other, by=licensing_user)
    send(token=token)
    send(token=other_token, application_objects=7)
    assert dict(UsageReport.objects.values_list("infrastructure", "application_objects")) == {
        target.pk: 1200,
        other.pk: 7,
    }


@pytest.mark.parametrize("field", ["infrastructure", "registration_id", "infrastructure_id"])
def test_a_body_naming_an_infrastructure_is_refused(send, token, target, field):
    response = send(token=token, **{field: target.registration_id})
    assert response.status_code == 400
    assert response.json() == {"errors": {field: [NAMES_INFRASTRUCTURE]}}
    assert not UsageReport.objects.exists()


def test_an_unknown_field_is_refused_by_name(send, token):
    response = send(token=token, cpu_cores=8)
    assert response.json() == {"errors": {"cpu_cores": [UNKNOWN_FIELD]}}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application_objects", -1),
        ("application_objects", "12"),
        ("application_objects", True),
        ("application_objects", 1.5),
        ("application_objects", None),
        ("application_objects", 2**31),
        ("internal_users", -1),
        ("external_users", [0]),
        ("disk_gb", -1),
        ("disk_gb", True),
        ("disk_gb", "a lot"),
        ("disk_gb", 1.234),
        ("disk_gb", {"gb": 1}),
        ("reported_on", "2026-02-30"),
        ("reported_on", 1764000000),
        ("reported_on", (TODAY + timedelta(days=1)).isoformat()),
        ("reported_on", (TODAY - timedelta(days=31)).isoformat()),
        ("internal_users_by_country", {"XX": 1}),
        ("internal_users_by_country", {"JP": -1}),
        ("internal_users_by_country", {"JP": "1"}),
        ("internal_users_by_country", {"JP": 41}),
        ("internal_users_by_country", ["JP"]),
    ],
)
def test_every_bad_field_is_a_400_naming_it(send, token, field, value):
    response = send(token=token, **{field: value})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field], errors
    assert all(isinstance(message, str) and message for message in errors[field])
    assert not UsageReport.objects.exists()


@pytest.mark.parametrize(
    "missing", ["reported_on", "application_objects", "disk_gb", "internal_users", "external_users"]
)
def test_a_missing_field_is_named(send, token, missing):
    body = {k: v for k, v in REPORT.items() if k != missing}
    response = send(body, token=token)
    assert response.json() == {"errors": {missing: ["This field is required."]}}


def test_the_service_rules_are_the_ones_answered(send, token):
    response = send(token=token, reported_on=(TODAY + timedelta(days=1)).isoformat())
    assert response.json() == {
        "errors": {
            "reported_on": [
                rules.DATE_IN_FUTURE.format(day=TODAY + timedelta(days=1), on=TODAY),
            ]
        }
    }


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, views.NO_AUTHORIZATION),
        ("Bearer abc", views.MALFORMED_AUTHORIZATION),
        ("Token not-the-token", views.NOT_AUTHENTICATED),
    ],
)
def test_a_missing_or_unknown_token_is_401_and_writes_nothing(send, header, message, caplog):
    caplog.set_level(logging.INFO, logger="ipp")
    response = send(header=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"error": message}
    assert not UsageReport.objects.exists()
    assert f"usage report by {views.UNAUTHENTICATED_CALLER} from 127.0.0.1: 401" in caplog.text


def test_a_revoked_token_is_401(send, token, licensing_user):
    services.revoke_token(services.authenticate_token(token), by=licensing_user)
    assert send(token=token).status_code == 401


def test_the_token_is_never_logged(send, token, caplog):
    caplog.set_level(logging.DEBUG)
    send(token=token)
    send(token=token, disk_gb=-1)
    assert token not in caplog.text


def test_get_is_405_in_json(client, send, token):
    response = client.get(URL, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"error": views.METHOD_NOT_ALLOWED}
    assert send(method="put").status_code == 405


def test_the_rate_limit_per_token_answers_429(send, token, settings):
    settings.IPP_API_RATE_LIMIT = 2
    statuses = [send(token=token).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    response = send(token=token)
    assert response["Retry-After"] == str(settings.IPP_API_RATE_WINDOW_SECONDS)
    assert "Too many requests" in response.json()["error"]


def test_calls_without_a_token_are_limited_per_address(send, settings):
    settings.IPP_API_ANONYMOUS_RATE_LIMIT = 2
    assert [send().status_code for _ in range(3)] == [401, 401, 429]


DEEP = 50_000
HOSTILE = {
    "malformed": ("{not json", usage_api.NOT_A_REPORT),
    "array": ("[1, 2]", usage_api.NOT_A_REPORT),
    "not-utf8": (b"\xff\xfe", hygiene.NOT_UTF8),
    "nul": (
        json.dumps({**REPORT, "internal_users_by_country": {"J\x00P": 1}}),
        hygiene.NUL_CHARACTER,
    ),
    "surrogate": ('{"reported_on": "\\ud800"}', hygiene.LONE_SURROGATE),
    "deep": ("[" * 100 + "]" * 100, hygiene.TOO_DEEP.format(depth=usage_api.MAX_JSON_DEPTH)),
    "50000-deep": (
        "[" * DEEP + "]" * DEEP,
        hygiene.TOO_LARGE.format(limit=usage_api.MAX_BODY_BYTES),
    ),
    "huge": (
        json.dumps({**REPORT, "pad": "x" * usage_api.MAX_BODY_BYTES}),
        hygiene.TOO_LARGE.format(limit=usage_api.MAX_BODY_BYTES),
    ),
}


@pytest.mark.parametrize(("raw", "message"), HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_a_hostile_body_is_400_with_or_without_a_token(send, token, raw, message, with_token):
    response = send(raw=raw, token=token if with_token else None)
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert not UsageReport.objects.exists()


def test_a_body_over_djangos_upload_limit_is_400(send, token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = send(token=token, pad="x" * 200)
    assert response.status_code == 400
    assert response.json() == {"error": hygiene.TOO_LARGE.format(limit=usage_api.MAX_BODY_BYTES)}


# --- Fuzzing: never a 500 ----------------------------------------------------------------

NASTY = ["\x00", "\ud800", "\udfff", "\ufeff", '"', "\\", "[", "{"]
text = st.text(st.sampled_from(NASTY) | st.characters(), max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text | st.decimals().map(str)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=12,
)
FIELDS = list(REPORT)


@st.composite
def reports(draw) -> bytes:
    """Bodies shaped like a report, some fields replaced by anything, so that the fuzzing
    reaches the schema, the service and the 201."""
    body = dict(REPORT)
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            body[field] = draw(values)
        else:
            body.pop(field)
    body.update(draw(st.dictionaries(text, values, max_size=1)))
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@pytest.fixture
def no_limits(settings):
    settings.IPP_API_RATE_LIMIT = 10**9
    settings.IPP_API_ANONYMOUS_RATE_LIMIT = 10**9


@pytest.mark.usefixtures("no_limits")
def test_no_body_is_a_500(client, token):
    seen = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=st.one_of(
            reports(),
            reports(),
            st.binary(max_size=200),
            values.map(lambda v: json.dumps(v).encode()),
        ),
        with_token=st.booleans(),
    )
    def post(body, with_token):
        headers = {"Authorization": f"Token {token}"} if with_token else {}
        response = client.post(URL, data=body, content_type="application/json", headers=headers)
        assert response.status_code in {201, 400, 401}, (response.status_code, body)
        assert set(response.json()) <= {"error", "errors"} or response.status_code == 201
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    post()
    assert {201, 400, 401}.issubset(seen), seen


# --- The published schema ------------------------------------------------------------------


def test_the_openapi_document_publishes_both_endpoints_with_their_bodies_and_answers(client):
    schema = client.get("/api/openapi.json").json()

    assert {"/api/ipp/deployment-check", "/api/usage"} <= set(schema["paths"])
    usage = schema["paths"]["/api/usage"]
    assert set(usage) == {"post"}  # other methods are answered 405, never published
    assert {"201", "400", "401", "405", "429"} <= set(usage["post"]["responses"])
    body = usage["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body == "#/components/schemas/UsageIn"
    components = schema["components"]
    assert "infrastructure" not in components["schemas"]["UsageIn"]["properties"]
    assert components["schemas"]["UsageIn"]["additionalProperties"] is False
    assert {"FieldErrors", "Error", "UsageOut", "Decision", "DeploymentQuestion"} <= set(
        components["schemas"]
    )
    assert components["securitySchemes"]["InfrastructureToken"]["name"] == "Authorization"
    check = schema["paths"]["/api/ipp/deployment-check"]["post"]
    assert {"200", "400", "401", "403", "404", "405", "429"} <= set(check["responses"])
