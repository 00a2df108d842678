"""seed_demo's year: the licensing data is made afresh on each run, relative to today, and
the last `NIGHTS` nights are run for real (`licensing.services.run_nightly`), so the demo
shows what a month of nights leaves behind: reminders, expiries, a cancellation after the
grace period, an overdue-provisioning alert, the mails, and the runs themselves.

A second run deletes the demo partners' licensing data (licenses and what hangs on them)
and makes it again with today's dates: the counts stay, the dates move.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from unittest import mock

from ipp.models import Application, DeploymentCheck, DeploymentPermission, InfrastructureToken
from licensing.choices import AttemptOutcome
from licensing.models import (
    Extension,
    Infrastructure,
    License,
    LicenseFileIssue,
    NightlyRun,
    Notification,
    RegistrationAttempt,
)
from partners.models import ComplianceIncident, Partner

NIGHTS = 30
NIGHT_MAILS = ("overdue_alert", "upgrade_report")
# Documentation addresses (RFC 5737): the portal's demo visitors.
PORTAL_CLIENTS = ("203.0.113.24", "198.51.100.7")


def nights(t: date) -> list[date]:
    """The days whose nightly run the demo shows: the `NIGHTS` days before today."""
    return [t - timedelta(days=n) for n in range(NIGHTS, 0, -1)]


@contextmanager
def lived_on(day: date, hour: int) -> Iterator[None]:
    """The demo's past as it was lived: what is written meanwhile (history entries, mails,
    the nightly runs) is stamped at `hour` on `day`, not at the moment the seed runs, so
    the license pages and the nightly runs read as the month they tell."""
    moment = datetime.combine(day, time(hour), tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def clear_licensing(partners: Iterable[Partner]) -> None:
    """Delete the licensing data of the demo partners (made again right after), the portal
    visits and the nightly runs of earlier demo days."""
    licenses = License.objects.filter(partner__in=list(partners))
    infras = Infrastructure.objects.filter(pk__in=licenses.values("infrastructure"))
    infra_ids = list(infras.values_list("pk", flat=True))
    license_ids = list(licenses.values_list("pk", flat=True))
    DeploymentCheck.objects.filter(target_id__in=infra_ids).delete()
    DeploymentPermission.objects.filter(source_id__in=infra_ids).delete()
    DeploymentPermission.objects.filter(target_id__in=infra_ids).delete()
    Application.objects.filter(developed_in_id__in=infra_ids).delete()
    InfrastructureToken.objects.filter(infrastructure_id__in=infra_ids).delete()
    Notification.objects.filter(license_id__in=license_ids).delete()
    # The team's own mails about those licenses and nights (keyed by license or day).
    Notification.objects.filter(license=None, kind__in=NIGHT_MAILS).delete()
    LicenseFileIssue.objects.filter(license_id__in=license_ids).delete()
    Extension.objects.filter(license_id__in=license_ids).delete()
    RegistrationAttempt.objects.filter(license_id__in=license_ids).delete()
    RegistrationAttempt.objects.filter(client_ip__in=PORTAL_CLIENTS).delete()
    ComplianceIncident.objects.filter(license_id__in=license_ids).delete()
    License.objects.filter(pk__in=license_ids).delete()
    Infrastructure.objects.filter(pk__in=infra_ids).delete()
    NightlyRun.objects.all().delete()


def portal_visit(lic: License | None, outcome: str, day: date, *, registration_id="", n=0):
    """A visit of the licensing portal as its view logs it (never the code)."""
    attempt = RegistrationAttempt.objects.create(
        client_ip=PORTAL_CLIENTS[n % len(PORTAL_CLIENTS)],
        outcome=outcome,
        license=lic,
        registration_id=registration_id,
        detail="" if lic else "unknown activation code",
    )
    # The visit's own day, not the seed's: the log reads as the month it tells.
    attempt.at = datetime.combine(day, time(9 + n), tzinfo=UTC)
    attempt.save(update_fields=["at"])


def portal_visits(lic: License, registration_id: str, day: date) -> None:
    """Around a registration: a mistyped code first, then the registration and the file."""
    portal_visit(None, AttemptOutcome.REFUSED_CODE, day, n=0)
    portal_visit(lic, AttemptOutcome.REGISTERED, day, registration_id=registration_id, n=1)
    portal_visit(lic, AttemptOutcome.DOWNLOADED, day, registration_id=registration_id, n=2)
