"""The deployment-check API: a platform runtime asks whether it may deploy an application.
Routed and published (OpenAPI) by `ipp.api`; the body's shape is `schemas.DeploymentQuestion`.

`POST /api/ipp/deployment-check` with `Authorization: Token <token>` and the JSON body
`{"application": "<key>", "target": "<registration id>"}` answers
`{"allowed": bool, "reason": str}`. A token belongs to one infrastructure and may ask only
about that infrastructure. Every call with a valid token is logged as a DeploymentCheck,
refused ones too; a call without one writes nothing to the database (anyone can send those,
so they would fill it): the application log has it, with the client's address, and such
calls are rate limited per address. The token itself is never logged or stored.

The body is checked once, before anything looks at it (size, nesting, NUL characters,
lone surrogates, types: partners.hygiene): whatever is sent, a bad body is a 400 that says
why, never a 500.

A target other than the token's own infrastructure is answered 403 whether or not that
registration id exists: an unknown target is never revealed as such (no 404 for it).
"""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from licensing.models import Infrastructure
from partners import hygiene
from partners.throttle import Window, client_ip

from . import services
from .choices import CheckStatus
from .models import Application, InfrastructureToken
from .schemas import MAX_FIELD_LENGTH, DeploymentQuestion

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
FIELD_TOO_LONG = '"application" and "target" are at most {length} characters each.'
OTHER_INFRASTRUCTURE = "This token may only ask about its own infrastructure."
UNKNOWN_APPLICATION = "unknown application"

UNAUTHENTICATED_CALLER = "api (no valid token)"

# The body is two short strings: a UUID and a registration id (both at most
# MAX_FIELD_LENGTH characters, as the log's columns). Anything much larger, or nested, is
# not a question.
MAX_BODY_BYTES = 4096
MAX_JSON_DEPTH = 8
# Issued tokens are 43 characters; a longer one is unknown without asking the database.
MAX_TOKEN_LENGTH = 128

# Calls per token: every call writes a DeploymentCheck row, so a runtime asking in a loop
# must not flood the log.
API_CALLS = Window("ipp:api:token", "IPP_API_RATE_LIMIT", "IPP_API_RATE_WINDOW_SECONDS")
# Calls without a valid token, per client address: anyone can send them, so they write no
# row; past this limit they are not even looked at.
ANONYMOUS_CALLS = Window(
    "ipp:api:anonymous", "IPP_API_ANONYMOUS_RATE_LIMIT", "IPP_API_ANONYMOUS_RATE_WINDOW_SECONDS"
)


def _caller(token: InfrastructureToken | None) -> str:
    return f"api token #{token.pk}" if token else UNAUTHENTICATED_CALLER


def _body(request) -> tuple[dict | None, str | None]:
    """(the question, None) or (None, why the body is refused): the one check of the body,
    made before anything else reads it. Touches no database."""
    try:
        # Refused before reading when the client announces more than the cap.
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            return None, hygiene.TOO_LARGE.format(limit=MAX_BODY_BYTES)
        data = hygiene.json_body(request.body, max_bytes=MAX_BODY_BYTES, max_depth=MAX_JSON_DEPTH)
    except RequestDataTooBig:
        return None, hygiene.TOO_LARGE.format(limit=MAX_BODY_BYTES)
    except hygiene.BadInput as error:
        # Not JSON at all: the API's own words, which show what to send.
        return None, NOT_JSON if error.message == hygiene.NOT_JSON else error.message
    except ValueError:  # a Content-Length that is no number
        return None, NOT_JSON
    if not isinstance(data, dict):
        return None, NOT_JSON
    try:
        question = DeploymentQuestion.model_validate(data)
    except ValidationError as error:
        if all(problem["type"] == "string_too_long" for problem in error.errors()):
            return None, FIELD_TOO_LONG.format(length=MAX_FIELD_LENGTH)
        return None, MISSING_FIELDS
    return {"application": question.application, "target": question.target}, None


def _asked(data: dict | None) -> tuple[str, str]:
    """The application key and target as sent, for the log: only from a body that passed
    _body, so never a NUL, a surrogate or an oversized string."""
    if not data:
        return "", ""
    return data["application"], data["target"]


def _token_from_header(request) -> tuple[str | None, str | None]:
    """(token, error): the token of an 'Authorization: Token <t>' header, or why not."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None, NO_AUTHORIZATION
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "token":
        return None, MALFORMED_AUTHORIZATION
    if len(parts[1]) > MAX_TOKEN_LENGTH or hygiene.text_problem(parts[1]):
        return None, NOT_AUTHENTICATED
    return parts[1], None


def _json(status: int, payload: dict) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _unauthenticated(request, status: int, error: str) -> JsonResponse:
    """A refusal of a call without a valid token: logged, never written to the database."""
    logger.warning(
        "ipp deployment-check by %s from %s: %s %s",
        UNAUTHENTICATED_CALLER,
        client_ip(request),
        status,
        error,
    )
    return _json(status, {"error": error})


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
    return _json(status, payload)


@csrf_exempt  # token-authenticated machine calls: no cookies, so no CSRF to defend against
def deployment_check(request):
    """1. Check the body (pure: nothing has read it yet).
    2. Find the token; count the call against the token, or without a valid one against the
       client's address; past the limit, 429.
    3. Refuse, in this order: not POST (405), a bad body (400), no valid token (401): with a
       token each is a DeploymentCheck row, without one only a line in the log.
    4. With a token and a good body: the token's own infrastructure only (403), a known
       application (404), then the decision (200), each logged as a DeploymentCheck.
    """
    post = request.method == "POST"
    data, body_error = _body(request) if post else (None, None)
    raw, header_error = _token_from_header(request)
    token = services.authenticate_token(raw) if raw else None

    window = API_CALLS if token else ANONYMOUS_CALLS
    if not window.admit(token.pk if token else client_ip(request)):
        error = RATE_LIMITED.format(limit=window.limit, window=window.seconds)
        if token:
            response = _answer(
                request, CheckStatus.RATE_LIMITED, {"error": error}, token=token, data=data
            )
        else:
            response = _unauthenticated(request, 429, error)
        response["Retry-After"] = str(window.seconds)
        return response

    if not post:
        if token:
            response = _answer(
                request, CheckStatus.NOT_POST, {"error": METHOD_NOT_ALLOWED}, token=token, data=None
            )
        else:
            response = _unauthenticated(request, 405, METHOD_NOT_ALLOWED)
        response["Allow"] = "POST"
        return response

    if body_error:
        if token:
            return _answer(
                request, CheckStatus.BAD_REQUEST, {"error": body_error}, token=token, data=None
            )
        return _unauthenticated(request, 400, body_error)

    if token is None:
        response = _unauthenticated(request, 401, header_error or NOT_AUTHENTICATED)
        response["WWW-Authenticate"] = "Token"
        return response

    key, registration_id = data["application"], data["target"]

    # The token's own infrastructure first, before anything else is looked up: a token
    # learns nothing about other infrastructures (not even whether an id exists) nor
    # about applications it may not ask for.
    own = token.infrastructure
    if registration_id.strip().lower() != own.registration_id.lower():
        other = Infrastructure.objects.filter(registration_id__iexact=registration_id.strip())
        return _answer(
            request,
            CheckStatus.OTHER_INFRASTRUCTURE,
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
            request,
            CheckStatus.UNKNOWN_APPLICATION,
            {"error": UNKNOWN_APPLICATION},
            token=token,
            data=data,
            target=target,
        )

    decision = services.check_and_log(
        application=application,
        target=target,
        caller=_caller(token),
        client_ip=client_ip(request),
        status_code=CheckStatus.ANSWERED,
        application_key=key,
        target_registration_id=registration_id,
    )
    logger.info("ipp deployment-check by %s from %s: 200", _caller(token), client_ip(request))
    return _json(200, {"allowed": decision.allowed, "reason": decision.reason})
