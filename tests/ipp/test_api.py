"""POST /api/ipp/deployment-check: authentication, validation, answers, log rows, limits."""

import json

import pytest

from ipp import services, views
from ipp.models import DeploymentCheck, InfrastructureToken
from licensing.models import Infrastructure

pytestmark = pytest.mark.django_db

URL = "/api/ipp/deployment-check"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def token(target, licensing_user):
    return services.issue_token(target, by=licensing_user)


@pytest.fixture
def ask(client):
    def ask(body=None, *, token=None, header=None, raw=None, method="post"):
        headers = {}
        if header is not None:
            headers["Authorization"] = header
        elif token is not None:
            headers["Authorization"] = f"Token {token}"
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return getattr(client, method)(
            URL, data=data, content_type="application/json", headers=headers
        )

    return ask


def last_check() -> DeploymentCheck:
    return DeploymentCheck.objects.order_by("-id").first()


def body_for(app, target) -> dict:
    return {"application": str(app.key), "target": target.registration_id}


# --- Answers -----------------------------------------------------------------------------


def test_allowed_deployment_is_answered_and_logged(ask, token, app, target, make_permission):
    make_permission(target)

    response = ask(body_for(app, target), token=token)

    assert response.status_code == 200
    data = response.json()
    assert data["allowed"] is True
    assert data["reason"].startswith("Allowed by deployment permission")
    assert set(data) == {"allowed", "reason"}
    check = DeploymentCheck.objects.get()
    record = InfrastructureToken.objects.get()
    assert (check.application, check.target, check.allowed, check.status_code) == (
        app,
        target,
        True,
        200,
    )
    assert (check.caller, check.client_ip, check.reason) == (
        f"api token #{record.pk}",
        "127.0.0.1",
        data["reason"],
    )


def test_denied_deployment_is_a_200_with_the_reason(ask, token, app, target):
    response = ask(body_for(app, target), token=token)

    assert response.status_code == 200
    assert response.json()["allowed"] is False
    assert response.json()["reason"].startswith("No deployment permission")
    assert last_check().allowed is False


def test_target_registration_id_is_matched_ignoring_case(ask, token, app, target):
    response = ask(
        {"application": str(app.key), "target": target.registration_id.lower()}, token=token
    )
    assert response.status_code == 200
    assert last_check().target == target


def test_no_redirect_for_the_url_without_trailing_slash(ask, token, app, target):
    # APPEND_SLASH must not turn the POST into a redirect (and a lost body).
    assert ask(body_for(app, target), token=token).status_code == 200


# --- Authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, views.NO_AUTHORIZATION),
        ("Bearer abc", views.MALFORMED_AUTHORIZATION),
        ("Token", views.MALFORMED_AUTHORIZATION),
        ("Token a b", views.MALFORMED_AUTHORIZATION),
        ("Token not-the-token", views.NOT_AUTHENTICATED),
    ],
    ids=["no-header", "bearer", "no-token", "two-tokens", "wrong-token"],
)
def test_missing_malformed_or_wrong_token_is_401_and_logged(
    ask, token, app, target, header, message
):
    response = ask(body_for(app, target), header=header)

    assert response.status_code == 401
    assert response.json() == {"error": message}
    assert response["WWW-Authenticate"] == "Token"
    check = DeploymentCheck.objects.get()
    assert (check.allowed, check.reason, check.status_code, check.caller) == (
        False,
        message,
        401,
        views.UNAUTHENTICATED_CALLER,
    )
    # What was asked is kept as sent; nothing is resolved for an unknown caller.
    assert (check.application_key, check.target_registration_id) == (
        str(app.key),
        target.registration_id,
    )
    assert check.application is None and check.target is None


def test_rotated_token_is_401(ask, token, app, target, licensing_user):
    new = services.issue_token(target, by=licensing_user)

    assert ask(body_for(app, target), token=token).status_code == 401
    assert ask(body_for(app, target), token=new).status_code == 200


def test_revoked_token_is_401(ask, token, app, target, licensing_user):
    services.revoke_token(InfrastructureToken.objects.get(), by=licensing_user)

    response = ask(body_for(app, target), token=token)

    assert response.status_code == 401
    assert response.json() == {"error": views.NOT_AUTHENTICATED}


def test_token_of_another_infrastructure_is_403_and_reveals_nothing(
    ask, app, target, source, licensing_user, make_trial
):
    other_trial = make_trial("Nagoya Foods")
    other_token = services.issue_token(other_trial.infrastructure, by=licensing_user)

    existing = ask(body_for(app, target), token=other_token)
    unknown = ask({"application": str(app.key), "target": "NO-SUCH-INFRA"}, token=other_token)
    unknown_app = ask(
        {"application": UNKNOWN_UUID, "target": target.registration_id}, token=other_token
    )

    # Same answer whether the target or the application exists: no oracle for either.
    for response in (existing, unknown, unknown_app):
        assert response.status_code == 403
        assert response.json() == {"error": views.OTHER_INFRASTRUCTURE}
    checks = list(DeploymentCheck.objects.order_by("id"))
    assert [c.status_code for c in checks] == [403, 403, 403]
    # The licensing team's log names the infrastructure asked about when it exists.
    assert [c.target for c in checks] == [target, None, target]
    assert all(c.application is None for c in checks)


def test_unknown_target_is_403_like_any_other_infrastructure(ask, token, app):
    response = ask({"application": str(app.key), "target": "UNKNOWN-01"}, token=token)

    assert response.status_code == 403
    assert response.json() == {"error": views.OTHER_INFRASTRUCTURE}
    check = last_check()
    assert (check.target, check.target_registration_id) == (None, "UNKNOWN-01")


# --- Request validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", views.NOT_JSON),
        (b"\xff\xfe", views.NOT_JSON),
        ("[1, 2]", views.NOT_JSON),
        ('"text"', views.NOT_JSON),
        ("{}", views.MISSING_FIELDS),
        ('{"application": "x"}', views.MISSING_FIELDS),
        ('{"target": "x"}', views.MISSING_FIELDS),
        ('{"application": 12, "target": "x"}', views.MISSING_FIELDS),
        ('{"application": "x", "target": ["x"]}', views.MISSING_FIELDS),
        ('{"application": "", "target": ""}', views.MISSING_FIELDS),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "array",
        "string",
        "empty",
        "no-target",
        "no-application",
        "application-number",
        "target-list",
        "empty-strings",
    ],
)
def test_bad_body_is_400_and_logged(ask, token, raw, message):
    response = ask(raw=raw, token=token)

    assert response.status_code == 400
    assert response.json() == {"error": message}
    check = DeploymentCheck.objects.get()
    assert (check.status_code, check.allowed, check.reason) == (400, False, message)


def test_oversized_body_is_400_and_logged(ask, token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = ask({"application": "x" * 200, "target": "y"}, token=token)
    assert response.status_code == 400
    assert response.json() == {"error": views.NOT_JSON}
    assert DeploymentCheck.objects.get().status_code == 400


@pytest.mark.parametrize("key", ["not-a-uuid", UNKNOWN_UUID], ids=["bad-uuid", "unknown-uuid"])
def test_unknown_application_is_404_and_logged(ask, token, target, key):
    response = ask({"application": key, "target": target.registration_id}, token=token)

    assert response.status_code == 404
    assert response.json() == {"error": "unknown application"}
    check = DeploymentCheck.objects.get()
    assert (check.application, check.application_key, check.target, check.status_code) == (
        None,
        key,
        target,
        404,
    )


def test_get_is_405_and_logged(client, token):
    response = client.get(URL, headers={"Authorization": f"Token {token}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"error": views.METHOD_NOT_ALLOWED}
    check = DeploymentCheck.objects.get()
    assert (check.status_code, check.caller) == (
        405,
        f"api token #{InfrastructureToken.objects.get().pk}",
    )


def test_get_without_token_is_405_too(client):
    assert client.get(URL).status_code == 405


# --- Rate limit and secrecy --------------------------------------------------------------


def test_rate_limit_per_token_answers_429(
    ask, token, app, target, settings, licensing_user, make_trial
):
    settings.IPP_API_RATE_LIMIT = 3
    settings.IPP_API_RATE_WINDOW_SECONDS = 60
    for _ in range(3):
        assert ask(body_for(app, target), token=token).status_code == 200

    response = ask(body_for(app, target), token=token)

    assert response.status_code == 429
    assert response.json() == {"error": views.RATE_LIMITED.format(limit=3, window=60)}
    assert response["Retry-After"] == "60"
    assert [c.status_code for c in DeploymentCheck.objects.order_by("id")] == [200, 200, 200, 429]
    # Another infrastructure's token has its own budget.
    other = make_trial("Nagoya Foods").infrastructure
    other_token = services.issue_token(other, by=licensing_user)
    assert ask(body_for(app, other), token=other_token).status_code == 200


def test_every_call_writes_one_row_and_the_token_is_never_stored(
    ask, client, token, app, target, make_permission
):
    make_permission(target)
    calls = [
        ask(body_for(app, target), token=token),
        ask(body_for(app, target), token="wrong"),
        ask(body_for(app, target)),
        ask(raw="nope", token=token),
        ask({"application": UNKNOWN_UUID, "target": target.registration_id}, token=token),
        client.get(URL),
    ]
    assert [r.status_code for r in calls] == [200, 401, 401, 400, 404, 405]
    assert DeploymentCheck.objects.count() == len(calls)

    stored = json.dumps(
        [list(row.values()) for row in DeploymentCheck.objects.values()]
        + [list(row.values()) for row in DeploymentCheck.history.values()],
        default=str,
    )
    assert token not in stored
    assert token[:8] not in stored


def test_token_of_an_infrastructure_whose_id_changed_no_longer_matches(ask, token, app, target):
    # The token belongs to the infrastructure, not to an id string: after a change of
    # registration id the old id is someone else's question.
    old = target.registration_id
    Infrastructure.objects.filter(pk=target.pk).update(registration_id="CLD-RENAMED")
    assert ask({"application": str(app.key), "target": old}, token=token).status_code == 403
    assert (
        ask({"application": str(app.key), "target": "cld-renamed"}, token=token).status_code == 200
    )
