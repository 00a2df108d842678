from django.db import models


class PermissionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    GRANTED = "granted", "Granted"
    REFUSED = "refused", "Refused"
    REVOKED = "revoked", "Revoked"
