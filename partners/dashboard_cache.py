"""The dashboard's figures, counted once per change of the data they count.

At 200,000 licenses the cards and the chart read tens of thousands of index entries on every
visit of the admin index, the page every user lands on. Their figures are kept in the
shared cache per scope (everything, or one user's rows) and day, under a *data version*: a
token replaced after every committed save or delete of a model they count (see
`config.apps`) and after the nightly run's bulk writes. A new version makes every key
new, so a figure is never older than the last committed change; the expiry
(`DASHBOARD_CACHE_SECONDS`) only bounds the life of keys no one asks for again, and of a
write that would bypass both (a raw SQL session). 0 turns the cache off: development
without Redis keeps one cache per process, which a nightly run started from a shell could
not reach.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import date
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from partners.scoping import role_names, sees_everything

VERSION_KEY = "dashboard:data-version"
# Part of every key: bump it when the cached shapes change (the Card, Figure and Item
# dataclasses, a section's return value), so a deploy never unpickles the old ones.
FORMAT = 1
T = TypeVar("T")

# The models whose rows a dashboard figure counts or scopes: a save or delete of one of them
# changes the data version once its transaction commits.
COUNTED_MODELS = (
    "licensing.License",
    "licensing.LicensePolicy",
    "licensing.Extension",
    "licensing.Infrastructure",
    "licensing.UsageReport",
    "ipp.DeploymentPermission",
    "partners.Region",
    "partners.Partner",
    "partners.PartnershipTerm",
    "partners.ComplianceIncident",
    "partners.Opportunity",
)


def data_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def data_changed() -> None:
    """The counted data changed: every figure is counted again on its next visit."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def data_changed_on_commit(**kwargs) -> None:
    """Signal receiver. After the commit, not before: a visit between the save and the
    commit would otherwise store the old figures under the new version."""
    transaction.on_commit(data_changed)


def scope_key(user) -> str:
    """Users who see the same rows share figures: everyone who sees everything shares one
    set; a channel manager's or an architect's rows are their own."""
    if sees_everything(user):
        return "all"
    roles = hashlib.sha256(",".join(sorted(role_names(user))).encode()).hexdigest()[:12]
    return f"user-{user.pk}-{roles}"


def cached(version: str, user, day: date, section: str, compute: Callable[[], T]) -> T:
    seconds = settings.DASHBOARD_CACHE_SECONDS
    if not seconds:
        return compute()
    key = f"dashboard:{FORMAT}:{version}:{day.isoformat()}:{scope_key(user)}:{section}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value
