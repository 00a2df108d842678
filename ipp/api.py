"""The machine API, on django-ninja: routes and the published OpenAPI document.

- `POST /api/ipp/deployment-check` (`views.deployment_check`): may an application be
  deployed to this infrastructure?
- `POST /api/usage` (`usage_api.report_usage`): one day's use of the infrastructure.
- `GET /api/openapi.json`, `GET /api/docs`: the schema of both, and a page to read it.

Both are authenticated by the infrastructure's token (`Authorization: Token <t>`). Each
view checks the body, the token, its rate and the method itself, in the order its module
documents (a hostile body is a 400 whether or not a token comes with it; a call is counted
before anything else is done for it), so the routes take the raw request: ninja routes and
publishes them, the schemas (`ipp.schemas`) validate the bodies and document every answer.
Methods other than POST reach the views too (unpublished), which answer 405 in JSON and
count them like any other call.
"""

from __future__ import annotations

from ninja import NinjaAPI

from . import usage_api, views
from .schemas import Decision, DeploymentQuestion, Error, FieldErrors, UsageIn, UsageOut

OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SECURITY_SCHEME = "InfrastructureToken"


class DeskAPI(NinjaAPI):
    """Publishes what the routes cannot declare without ninja running it before the views:
    the token scheme and the request bodies."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`: the infrastructure's API token, issued in the admin.",
        }
        schemas = components.setdefault("schemas", {})
        for body in (DeploymentQuestion, UsageIn):
            schemas[body.__name__] = body.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        return schema


def _request_body(schema) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }


api = DeskAPI(
    title="Partner licensing desk API",
    version="1",
    description=(
        "Machine calls of an infrastructure's platform, authenticated by the infrastructure's "
        "token (`Authorization: Token <token>`). Refusals: 400 for a bad body (`error`) or "
        "bad fields (`errors`, by field), 401 without a valid token, 405 for another method "
        "than POST, 429 past the rate limit (see `Retry-After`)."
    ),
    urls_namespace="ipp",
)

REFUSED = {401: Error, 405: Error, 429: Error}


@api.post(
    "/ipp/deployment-check",
    response={200: Decision, 400: Error, 403: Error, 404: Error, **REFUSED},
    summary="May this application be deployed to this infrastructure?",
    description=(
        "Asks about the token's own infrastructure only (403 for any other target, known "
        "or not); 404 for an unknown application. Every call with a valid token is logged."
    ),
    openapi_extra=_request_body(DeploymentQuestion),
    operation_id="deployment_check",
    url_name="deployment-check",
    tags=["ipp"],
)
def deployment_check(request):
    return views.deployment_check(request)


@api.post(
    "/usage",
    response={201: UsageOut, 400: FieldErrors | Error, **REFUSED},
    summary="Report one day's use of the token's infrastructure",
    description=(
        "The token decides the infrastructure; the body names none. A second report for "
        "the same day replaces the first. 400 with `errors` names each field refused."
    ),
    openapi_extra=_request_body(UsageIn),
    operation_id="report_usage",
    url_name="usage",
    tags=["usage"],
)
def report_usage(request):
    return usage_api.report_usage(request)


@api.api_operation(OTHER_METHODS, "/ipp/deployment-check", include_in_schema=False)
def deployment_check_other_methods(request):
    return views.deployment_check(request)


@api.api_operation(OTHER_METHODS, "/usage", include_in_schema=False)
def report_usage_other_methods(request):
    return usage_api.report_usage(request)
