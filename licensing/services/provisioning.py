"""Provisioning an approved license, and cancelling a live one."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from .. import delivery, lifecycle, mails, notifications
from ..choices import LicenseState
from ..models import Environment, Infrastructure, License, PlatformRelease
from .common import (
    apply,
    lock,
    people,
    require_licensing_team,
    require_reason,
    require_state,
    save,
    stamp,
    sync,
    tell,
    today,
)
from .extensions import close_extension_requests

__all__ = [
    "CODE_ALPHABET",
    "MISSING_CONTACT",
    "NO_STABLE_RELEASE",
    "NO_TERM_FOR_END_DATE",
    "cancel",
    "new_activation_code",
    "provision",
]

# Provisioning.
NO_TERM_FOR_END_DATE = (
    "No partnership term of {partner} covers {on}: a {kind} runs to the renewal date."
)
NO_STABLE_RELEASE = "Record a stable platform release before provisioning a cloud license."
MISSING_CONTACT = "{partner} has no {role} contact: add one so the onboarding mail can be sent."
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand


def _end_date(lic: License, on: date) -> date:
    if lic.policy.term_days:
        return on + timedelta(days=lic.policy.term_days)
    end = lifecycle.end_of_term(lic.partner, on)
    if end is None:
        raise ValidationError(
            NO_TERM_FOR_END_DATE.format(partner=lic.partner, on=on, kind=lic.policy.name)
        )
    return end


@sensitive_variables("symbols")
def new_activation_code() -> str:
    # 16 symbols of 32: 80 random bits, in four groups a person can type.
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(symbols[i : i + 4] for i in range(0, 16, 4))


def _create_infrastructure(lic: License, on: date) -> Infrastructure:
    """Cloud: on the latest stable release, with endpoints and a LifeTime console.
    On-premises: the environments only; the customer registers it on the portal."""
    owner, customer = lic.partner, lic.licensee_name
    infra = Infrastructure(
        name=f"{lic.policy.kind}-{lic.pk} {customer}",
        owner_partner=owner,
        customer_name=customer if customer != owner.name else "",
        hosting=lic.hosting,
    )
    if lic.is_cloud:
        release = PlatformRelease.latest_stable()
        if release is None:
            raise ValidationError(NO_STABLE_RELEASE)
        host = f"{slugify(customer)[:30]}-{lic.policy.kind.lower()}{lic.pk}"
        infra.platform_release = release
        infra.registration_id = f"CLD-{secrets.token_hex(6).upper()}"
        infra.registered_on = on
        infra.lifetime_url = f"https://{host}-lifetime.{settings.CLOUD_DOMAIN}"
    infra.save()
    environments = [
        Environment(
            infrastructure=infra,
            name=name,
            endpoint_url=(
                f"https://{host}-{slugify(name)}.{settings.CLOUD_DOMAIN}" if lic.is_cloud else ""
            ),
        )
        for name in lic.policy.environment_list
    ]
    if lic.is_cloud:
        environments.append(
            Environment(infrastructure=infra, name="LifeTime", endpoint_url=infra.lifetime_url)
        )
    for environment in environments:
        environment.save()  # one by one: each gets its history row
    return infra


@sensitive_variables("locked")
@transaction.atomic
def provision(lic: License, *, by, on: date | None = None) -> License:
    """Provision an approved license.

    1. only the licensing team, only an approved license;
    2. the policy's limits and environments are copied onto the license ("no upgrades":
       a later policy edit never reaches it);
    3. the infrastructure and its environments are created;
    4. a new activation code (the caller shows it once: it is in no history or list);
    5. the onboarding mail to the financial and technical contacts is written to the
       outbox in this transaction, and delivered once it commits.
    """
    on = on or today()
    require_licensing_team(by, "provision")
    locked = lock(lic)
    require_state(locked, (LicenseState.APPROVED,), "provisioned")
    roles = set(locked.partner.contacts.values_list("role", flat=True))
    for role in ("financial", "technical"):
        if role not in roles:
            raise ValidationError(MISSING_CONTACT.format(partner=locked.partner, role=role))
    locked.starts_on = on
    locked.ends_on = locked.original_ends_on = _end_date(locked, on)
    locked.environment_names = ",".join(locked.policy.environment_list)
    locked.limits = locked.policy.limits()
    locked.infrastructure = _create_infrastructure(locked, on)
    locked.activation_code = new_activation_code()
    locked.state = LicenseState.ACTIVE
    locked.provisioned_by = by
    locked.provisioned_at = stamp(on)
    save(locked, by, "provisioned")
    notifications.queue_onboarding(locked)
    delivery.after_commit()
    return sync(lic, locked)


@transaction.atomic
def cancel(lic: License, *, by, reason: str, on: date | None = None) -> License:
    """Cancel a live license (requested, approved, active or expired), saying why; its
    waiting extension request is refused with it ("license cancelled")."""
    on = on or today()
    require_licensing_team(by, "cancel")
    reason = require_reason(reason)
    locked = lock(lic)
    require_state(
        locked,
        (LicenseState.REQUESTED, LicenseState.APPROVED, LicenseState.ACTIVE, LicenseState.EXPIRED),
        "cancelled",
    )
    apply(locked, lifecycle.cancel(locked, reason=reason, on=on), by)
    closed = close_extension_requests(locked, by=by, on=on)
    who = people(locked)
    tell(
        mails.cancelled(who, cancelled_on=on, reason=reason),
        *(mails.request_closed(who, ext) for ext in closed),
    )
    return sync(lic, locked)
