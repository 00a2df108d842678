"""License policies (the program's cheat sheet, as data), platform releases,
infrastructures, licenses, extensions and the desk's records, one module per concern."""

from .extension import Extension, extension_queue_order
from .infrastructure import LIVE_INFRASTRUCTURE_STATES, Environment, Infrastructure
from .license import (
    License,
    LicenseQuerySet,
    awaiting_conversion_q,
    license_queue_order,
    provisioning_overdue_q,
)
from .policies import LicensePolicy, PlatformRelease, split_list
from .records import NightlyRun, Notification, RegistrationAttempt, reminder_params
from .tally import LicenseTally
from .usage import LicenseFileIssue, UsageReport

__all__ = [
    "LIVE_INFRASTRUCTURE_STATES",
    "Environment",
    "Extension",
    "Infrastructure",
    "License",
    "LicenseFileIssue",
    "LicensePolicy",
    "LicenseQuerySet",
    "LicenseTally",
    "NightlyRun",
    "Notification",
    "PlatformRelease",
    "RegistrationAttempt",
    "UsageReport",
    "awaiting_conversion_q",
    "extension_queue_order",
    "license_queue_order",
    "provisioning_overdue_q",
    "reminder_params",
    "split_list",
]
