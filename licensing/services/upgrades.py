"""Platform upgrades of an infrastructure, recorded by the licensing team."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import mails
from ..choices import Hosting, LicenseState
from ..models import Infrastructure, License, PlatformRelease
from .common import people, require_licensing_team, tell

__all__ = ["UPGRADE_NOT_NEWER", "UPGRADE_NOT_STABLE", "record_upgrade"]

UPGRADE_NOT_NEWER = "{release} is not newer than the installed {installed}."
UPGRADE_NOT_STABLE = "{release} is a preview: record upgrades to stable releases only."


@transaction.atomic
def record_upgrade(
    infra: Infrastructure, *, by, release: PlatformRelease | None = None, on: date | None = None
) -> Infrastructure:
    """Record that an infrastructure was upgraded (default: to the latest stable release);
    its history says who recorded it."""
    require_licensing_team(by, "record upgrades of")
    release = release or PlatformRelease.latest_stable()
    if release is None or not release.is_stable:
        raise ValidationError(UPGRADE_NOT_STABLE.format(release=release))
    installed = infra.platform_release
    if installed and installed.released_on >= release.released_on:
        raise ValidationError(UPGRADE_NOT_NEWER.format(release=release, installed=installed))
    infra.platform_release = release
    infra._history_user, infra._change_reason = by, f"upgraded to {release.version}"
    infra.save(update_fields=["platform_release"])
    # The license file names the release: an on-premises license's technical contact is
    # told a new file is ready (one mail per release reached).
    on_premises = License.objects.filter(
        infrastructure=infra, state=LicenseState.ACTIVE, hosting=Hosting.ON_PREMISES
    )
    for lic in on_premises:
        tell(
            mails.file_ready(
                people(lic),
                event=release.version,
                ends_on=lic.ends_on,
                why=mails.UPGRADED,
                release=release.version,
            )
        )
    return infra
