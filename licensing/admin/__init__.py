"""The licensing admin, one module per concern; importing the package registers them."""

from . import extensions, infrastructures, licenses, logs, policies, usage
from .partner_licenses import LicenseInline

__all__ = [
    "LicenseInline",
    "extensions",
    "infrastructures",
    "licenses",
    "logs",
    "policies",
    "usage",
]
