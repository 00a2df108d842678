"""The deployment-check API: a platform runtime asks whether it may deploy an application.

`POST /api/ipp/deployment-check` with `Authorization: Token <token>` and the JSON body
`{"application": "<key>", "target": "<registration id>"}` answers
`{"allowed": bool, "reason": str}`. A token belongs to one infrastructure and may ask only
about that infrastructure. Every call is logged as a DeploymentCheck, refused ones too;
the token itself is never logged or stored.

A target other than the token's own infrastructure is answered 403 whether or not that
registration id exists: an unknown target is never revealed as such (no 404 for it).
"""

from __future__ import annotations

import json
import logging
import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from licensing.models import Infrastructure
from partners.throttle import Window, client_ip

from . import services
from .models import Application, InfrastructureToken

logger = logging.getLogger(__name__)

METHOD_NOT_ALLOWED = "Use POST with a JSON body."
NO_AUTHORIZATION = "Missing Authorization header: send 'Authorization: Token <your token>'."
MALFORMED_AUTHORIZATION = (
    "Malformed Authorization header: send 'Authorization: Token <your token>'."
)
NOT_AUTHENTICATED = "Invalid or revoked token."
RATE_LIMITED = "Too many requests: at most {limit} every {window} seconds. Retry later."
NOT_JSON = 'The body must be a JSON object: {"application": "<key>", "target": "<id>"}.'
MISSING_FIELDS = 'The JSON object needs the strings "application" and "target".'
OTHER_INFRASTRUCTURE = "This token may only ask about its own infrastructure."
UNKNOWN_APPLICATION = "unknown application"

UNAUTHENTICATED_CALLER = "api (no valid token)"

# Calls per token: every call writes a DeploymentCheck row, so a runtime asking in a loop
# must not flood the log.
API_CALLS = Window("ipp:api:token", "IPP_API_RATE_LIMIT", "IPP_API_RATE_WINDOW_SECONDS")


def _caller(token: InfrastructureToken | None) -> str:
    return f"api token #{token.pk}" if token else UNAUTHENTICATED_CALLER


def _body(request) -> dict | None:
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RequestDataTooBig):
        return None
    return data if isinstance(data, dict) else None


def _asked(data: dict | None) -> tuple[str, str]:
    """The application key and target as sent, for the log (strings only)."""
    if not data:
        return "", ""
    application, target = data.get("application"), data.get("target")
    return (
        application if isinstance(application, str) else "",
        target if isinstance(target, str) else "",
    )


def _token_from_header(request) -> tuple[str | None, str | None]:
    """(token, error): the token of an 'Authorization: Token <t>' header, or why not."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None, NO_AUTHORIZATION
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "token":
        return None, MALFORMED_AUTHORIZATION
    return parts[1], None


def _answer(
    request,
    status: int,
    payload: dict,
    *,
    token: InfrastructureToken | None,
    data: dict | None,
    application: Application | None = None,
    target: Infrastructure | None = None,
) -> JsonResponse:
    """A refusal: logged as a denied check whose reason is the error answered."""
    key, registration_id = _asked(data)
    services.record_check(
        services.Decision(False, payload["error"]),
        application=application,
        target=target,
        caller=_caller(token),
        application_key=key,
        target_registration_id=registration_id,
        client_ip=client_ip(request),
        status_code=status,
    )
    # Never the token: who asked (its record id), from where, and the answer.
    logger.info(
        "ipp deployment-check by %s from %s: %s", _caller(token), client_ip(request), status
    )
    response = JsonResponse(payload, status=status)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # token-authenticated machine calls: no cookies, so no CSRF to defend against
def deployment_check(request):
    data = _body(request) if request.method == "POST" else None
    raw, header_error = _token_from_header(request)
    token = services.authenticate_token(raw) if raw else None

    if request.method != "POST":
        response = _answer(request, 405, {"error": METHOD_NOT_ALLOWED}, token=token, data=None)
        response["Allow"] = "POST"
        return response

    if token is None:
        error = header_error or NOT_AUTHENTICATED
        response = _answer(request, 401, {"error": error}, token=None, data=data)
        response["WWW-Authenticate"] = "Token"
        return response

    if not API_CALLS.admit(token.pk):
        window = API_CALLS.seconds
        response = _answer(
            request,
            429,
            {"error": RATE_LIMITED.format(limit=API_CALLS.limit, window=window)},
            token=token,
            data=data,
        )
        response["Retry-After"] = str(window)
        return response

    if data is None:
        return _answer(request, 400, {"error": NOT_JSON}, token=token, data=None)
    key, registration_id = data.get("application"), data.get("target")
    if not all(isinstance(value, str) and value.strip() for value in (key, registration_id)):
        return _answer(request, 400, {"error": MISSING_FIELDS}, token=token, data=data)

    # The token's own infrastructure first, before anything else is looked up: a token
    # learns nothing about other infrastructures (not even whether an id exists) nor
    # about applications it may not ask for.
    own = token.infrastructure
    if registration_id.strip().lower() != own.registration_id.lower():
        other = Infrastructure.objects.filter(registration_id__iexact=registration_id.strip())
        return _answer(
            request,
            403,
            {"error": OTHER_INFRASTRUCTURE},
            token=token,
            data=data,
            target=other.first(),  # for the licensing team's log only
        )
    target = own

    try:
        application = Application.objects.select_related("developed_in").get(
            key=uuid.UUID(key.strip())
        )
    except (ValueError, Application.DoesNotExist):
        return _answer(
            request, 404, {"error": UNKNOWN_APPLICATION}, token=token, data=data, target=target
        )

    decision = services.check_and_log(
        application=application,
        target=target,
        caller=_caller(token),
        client_ip=client_ip(request),
        status_code=200,
        application_key=key,
        target_registration_id=registration_id,
    )
    logger.info("ipp deployment-check by %s from %s: 200", _caller(token), client_ip(request))
    response = JsonResponse({"allowed": decision.allowed, "reason": decision.reason})
    response["Cache-Control"] = "no-store"
    return response
