from django.db import models


class LicenseKind(models.TextChoices):
    DL = "DL", "Demo license"
    IL = "IL", "Internal license"
    TL = "TL", "Trial license"


class Hosting(models.TextChoices):
    SHARED_CLOUD = "shared_cloud", "Shared cloud"
    DEDICATED_CLOUD = "dedicated_cloud", "Dedicated cloud"
    ON_PREMISES = "on_premises", "On-premises"


class ProductionUse(models.TextChoices):
    NO = "no", "No"
    INTERNAL = "internal", "Yes, internal only"


class LicenseState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    CONVERTED = "converted", "Converted"


# States in which a license still counts against "one per partner" rules.
LIVE_STATES = (
    LicenseState.REQUESTED,
    LicenseState.APPROVED,
    LicenseState.ACTIVE,
    LicenseState.EXPIRED,
)
CLOUD_HOSTINGS = (Hosting.SHARED_CLOUD, Hosting.DEDICATED_CLOUD)


class NotificationKind(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    REMINDER = "reminder", "Expiry reminder"
    OVERDUE_ALERT = "overdue_alert", "Late provisioning alert"
    UPGRADE_REPORT = "upgrade_report", "Platform upgrade report"
    REQUEST_APPROVED = "request_approved", "Request approved"
    REQUEST_REFUSED = "request_refused", "Request refused"
    EXPIRED = "expired", "License expired"
    CANCELLED = "cancelled", "License cancelled"
    EXTENSION_GRANTED = "extension_granted", "Extension granted"
    EXTENSION_REFUSED = "extension_refused", "Extension refused"
    ACTIVE_AGAIN = "active_again", "Active again: new license file"
    INCIDENT_OPENED = "incident_opened", "Compliance incident opened"
    CODE_REISSUED = "code_reissued", "Activation code reissued"


class Delivery(models.TextChoices):
    """Where a mail is in the outbox."""

    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class FileVia(models.TextChoices):
    """Where a license file was handed out."""

    PORTAL = "portal", "Licensing portal"
    ADMIN = "admin", "Admin (licensing team)"


class AttemptOutcome(models.TextChoices):
    REGISTERED = "registered", "Registered"
    REFUSED_CODE = "refused_code", "Refused: unknown, used or inactive code"
    REFUSED_INPUT = "refused_input", "Refused: identifier or release"
    THROTTLED = "throttled", "Throttled"
    DOWNLOADED = "downloaded", "License file downloaded"


class ExtensionReason(models.TextChoices):
    OPEN_SALES_CYCLE = "open_sales_cycle", "Partnership re-evaluated on an open sales cycle"
    LEGAL_CONSTRAINTS = "legal_constraints", "Legal constraints delayed the renewal"
    TRIAL_SALES_CYCLE = "trial_sales_cycle", "Trial: ongoing sales cycle"


class ExtensionState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    GRANTED = "granted", "Granted"
    REFUSED = "refused", "Refused"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped: another run held the lock"
