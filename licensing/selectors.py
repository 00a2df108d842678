"""Read questions that more than one place asks, answered once: who is told about a
license, and which infrastructures need a platform upgrade."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import Exists, OuterRef, QuerySet

from partners.models import Contact, Opportunity, Partner

from .choices import LicenseKind
from .models import (
    LIVE_INFRASTRUCTURE_STATES,
    Infrastructure,
    License,
    LicensePolicy,
    PlatformRelease,
)


def behind_latest_release(latest: PlatformRelease | None = None) -> QuerySet[Infrastructure]:
    """Infrastructures of live Demo and Internal licenses on a release older than the latest
    stable one (or `latest`): what needs an upgrade. The infrastructure list's filter, the
    daily upgrade report and the message on recording a new release all ask this."""
    latest = latest or PlatformRelease.latest_stable()
    if latest is None:
        return Infrastructure.objects.none()
    # The few release and policy ids are read first: with literal ids the planner reads
    # the older releases' infrastructures by their index and the live licenses from
    # `license_live_infrastructure` alone, instead of every license and a DISTINCT.
    older = PlatformRelease.objects.filter(released_on__lt=latest.released_on)
    policies = LicensePolicy.objects.filter(kind__in=[LicenseKind.DL, LicenseKind.IL])
    live = License.objects.filter(
        infrastructure=OuterRef("pk"),
        policy__in=list(policies.values_list("pk", flat=True)),
        state__in=LIVE_INFRASTRUCTURE_STATES,
    )
    return (
        Infrastructure.objects.filter(platform_release__in=list(older.values_list("pk", flat=True)))
        .filter(Exists(live))
        .order_by("pk")
    )


def reminder_recipients(lic: License) -> list[str]:
    """Who gets `lic`'s reminders (the mail preview asks; the night uses `recipients_of`)."""
    return recipients_of([lic.pk])[0][3]


def recipients_of(ids: list[int]) -> list[tuple[int, int, date, list[str]]]:
    """(license id, partner id, end, recipients) of each license, in four queries of
    plain values (no model objects per license): the licenses, their trials' opportunities,
    their partners' channel managers, the partners' contacts. (Joined to the licenses, the
    partners and the opportunities were each hashed whole by the planner for a batch of
    2,000.)

    Partner-program licenses remind both contacts, then the channel manager; a trial
    reminds the opportunity's solution architect when it has one (even without an
    address: then nobody), else whoever asked for it."""
    licenses = list(
        License.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list(
            "pk", "partner_id", "ends_on", "policy__kind", "opportunity_id", "requested_by__email"
        )
    )
    architects = {
        pk: (architect, email)
        for pk, architect, email in Opportunity.objects.filter(
            pk__in={row[4] for row in licenses if row[4] is not None}
        ).values_list("pk", "solution_architect_id", "solution_architect__email")
    }
    rows = [
        (pk, partner_id, ends_on, kind, *architects.get(opportunity, (None, None)), requester)
        for pk, partner_id, ends_on, kind, opportunity, requester in licenses
    ]
    partners = {row[1] for row in rows if row[3] != LicenseKind.TL}
    managers = dict(
        Partner.objects.filter(pk__in=partners).values_list("pk", "channel_manager__email")
    )
    contacts = defaultdict(list)
    for partner_id, email in (
        Contact.objects.filter(partner_id__in=partners)
        .order_by("partner_id", "role")
        .values_list("partner_id", "email")
    ):
        contacts[partner_id].append(email)
    found = []
    for pk, partner_id, ends_on, kind, architect, architect_email, requester_email in rows:
        if kind == LicenseKind.TL:
            # The architect when the opportunity has one, else whoever asked for it.
            email = architect_email if architect else requester_email
            emails = [email] if email else []
        else:
            manager = managers.get(partner_id)
            emails = contacts[partner_id] + ([manager] if manager else [])
        found.append((pk, partner_id, ends_on, emails))
    return found
