"""What the admin says after a license or an extension moves: its state, then what happens
next and who acts on it ("approved. Provision by 2026-12-04")."""

from __future__ import annotations

from ..choices import ExtensionState, LicenseState
from ..models import Extension, License

WAITING_FOR_THE_TEAM = "waiting for the licensing team to approve or refuse it"


def after_request(lic: License) -> str:
    if lic.state == LicenseState.REQUESTED:
        return WAITING_FOR_THE_TEAM
    return ""


def after_approval(lic: License) -> str:
    if not lic.provisioning_due_on:
        return "provision it next"
    return f"provision by {lic.provisioning_due_on:%Y-%m-%d}"


def after_refusal(lic: License) -> str:
    return "the requester is told why by mail"


def after_cancellation(lic: License) -> str:
    return (
        "its applications go offline; its pending extension requests are refused; "
        "the partner's contacts are told by mail"
    )


def after_conversion(lic: License) -> str:
    return "the trial is now the customer's license"


def after_extension(ext: Extension) -> str:
    if ext.state == ExtensionState.REQUESTED:
        return WAITING_FOR_THE_TEAM
    if ext.state == ExtensionState.GRANTED:
        return f"{ext.license} now ends on {ext.license.ends_on:%Y-%m-%d}"
    return "the requester is told why by mail"
