"""The usage API: an infrastructure's platform reports one day's use.

`POST /api/usage` with `Authorization: Token <token>` (the infrastructure's IPP token) and
the JSON body of `schemas.UsageIn` answers 201 with the stored report (`schemas.UsageOut`).
The token decides the infrastructure: a body naming one (`infrastructure`,
`registration_id`, ...) is refused with that field named, as is any field the schema does
not know, so a client that believes it reports for another infrastructure learns it does
not. A second report of the same day replaces the first (the history keeps both).

Refusals, in this order, as the deployment-check API's: more calls than the token's (or,
without a valid token, the address's) limit → 429; another method than POST → 405; a body
that is not a JSON object within the size and nesting limits, or carries NUL characters or
lone surrogates → 400 `{"error": ...}`; no valid token → 401; fields refused by the schema
(types) or by `licensing.services.record_usage` (the rules) → 400
`{"errors": {field: [messages]}}`. Never a 500 for anything a client sends. Nothing is
written for a refused call; the log has a line for each, never the token.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as RuleRefused
from django.http import JsonResponse
from pydantic import ValidationError

from licensing import services as licensing_services
from partners import hygiene
from partners.throttle import Window, client_ip

from . import services, views
from .models import InfrastructureToken
from .schemas import UsageIn, UsageOut, field_errors

logger = logging.getLogger(__name__)

NOT_A_REPORT = (
    'The body must be a JSON object: {"reported_on": "YYYY-MM-DD", "application_objects": 0, '
    '"disk_gb": 0, "internal_users": 0, "external_users": 0, "internal_users_by_country": {}}.'
)
# Six figures and a country breakdown (at most some 250 countries): a few kilobytes.
MAX_BODY_BYTES = 16_384
MAX_JSON_DEPTH = 4

# Reports per token: one a day is the rule, a few resent after a failure are fine; a
# platform reporting in a loop is not. Counted apart from its deployment checks.
USAGE_CALLS = Window("ipp:usage:token", "IPP_API_RATE_LIMIT", "IPP_API_RATE_WINDOW_SECONDS")


def _body(request) -> tuple[dict | None, str | None]:
    """(the body as a dict, None) or (None, why it is refused): size, encoding, nesting,
    NUL and surrogates, a JSON object. Pure: touches no database."""
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            return None, hygiene.TOO_LARGE.format(limit=MAX_BODY_BYTES)
        data = hygiene.json_body(request.body, max_bytes=MAX_BODY_BYTES, max_depth=MAX_JSON_DEPTH)
    except RequestDataTooBig:
        return None, hygiene.TOO_LARGE.format(limit=MAX_BODY_BYTES)
    except hygiene.BadInput as error:
        return None, NOT_A_REPORT if error.message == hygiene.NOT_JSON else error.message
    except ValueError:  # a Content-Length that is no number
        return None, NOT_A_REPORT
    if not isinstance(data, dict):
        return None, NOT_A_REPORT
    return data, None


def _answer(request, token: InfrastructureToken | None, status: int, payload: dict) -> JsonResponse:
    caller = f"api token #{token.pk}" if token else views.UNAUTHENTICATED_CALLER
    level = logging.INFO if token else logging.WARNING
    logger.log(level, "usage report by %s from %s: %s", caller, client_ip(request), status)
    return views._json(status, payload)


def report_usage(request):
    """1. Check the body (pure: nothing has read it yet).
    2. Find the token; count the call against it, or without a valid one against the
       client's address; past the limit, 429.
    3. Refuse a method other than POST (405), a bad body (400), no valid token (401).
    4. Validate the fields (schema, then the service's rules): 400 naming each field.
    5. Record the report for the token's infrastructure: 201 with the stored report.
    """
    post = request.method == "POST"
    data, body_error = _body(request) if post else (None, None)
    raw, header_error = views._token_from_header(request)
    token = services.authenticate_token(raw) if raw else None

    window = USAGE_CALLS if token else views.ANONYMOUS_CALLS
    if not window.admit(token.pk if token else client_ip(request)):
        error = views.RATE_LIMITED.format(limit=window.limit, window=window.seconds)
        response = _answer(request, token, 429, {"error": error})
        response["Retry-After"] = str(window.seconds)
        return response
    if not post:
        response = _answer(request, token, 405, {"error": views.METHOD_NOT_ALLOWED})
        response["Allow"] = "POST"
        return response
    if body_error:
        return _answer(request, token, 400, {"error": body_error})
    if token is None:
        response = _answer(request, None, 401, {"error": header_error or views.NOT_AUTHENTICATED})
        response["WWW-Authenticate"] = "Token"
        return response

    try:
        figures = UsageIn.model_validate(data)
    except ValidationError as error:
        return _answer(request, token, 400, {"errors": field_errors(error)})
    infrastructure = token.infrastructure
    try:
        report = licensing_services.record_usage(
            infrastructure=infrastructure, **figures.model_dump()
        )
    except RuleRefused as error:
        errors = error.message_dict if hasattr(error, "error_dict") else {"body": error.messages}
        return _answer(request, token, 400, {"errors": errors})
    stored = UsageOut(
        id=report.pk,
        infrastructure=infrastructure.registration_id,
        reported_on=report.reported_on,
        application_objects=report.application_objects,
        disk_gb=report.disk_gb,
        internal_users=report.internal_users,
        external_users=report.external_users,
        internal_users_by_country=report.internal_users_by_country,
        received_at=report.received_at,
    )
    return _answer(request, token, 201, stored.model_dump(mode="json"))
