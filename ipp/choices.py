from django.db import models


class PermissionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    GRANTED = "granted", "Granted"
    REFUSED = "refused", "Refused"
    REVOKED = "revoked", "Revoked"


class CheckStatus(models.IntegerChoices):
    """The HTTP statuses a logged deployment check carries (`ipp.views.deployment_check`; a
    call without a valid token is only a line in the log). None: asked from the admin. The
    check log's filter offers these, rather than reading every check for the values there."""

    ANSWERED = 200, "200 answered"
    BAD_REQUEST = 400, "400 bad request"
    OTHER_INFRASTRUCTURE = 403, "403 another infrastructure"
    UNKNOWN_APPLICATION = 404, "404 unknown application"
    NOT_POST = 405, "405 not a POST"
    RATE_LIMITED = 429, "429 over the rate limit"
