"""Who sees which rows: the one place the region scope and the architect's assignment live.

Licensing Team, Auditors and superusers see every row. A Regional Channel Manager sees the
rows of the regions whose `channel_managers` include them. A Solution Architect reads partner
data of every region, and of licensing data only what is assigned to them (the opportunities
and Trial licenses whose `solution_architect` they are). A user with both roles sees both.

Every admin, the dashboard, exports and autocomplete go through `scope`, so a row that a
changelist hides is hidden everywhere else too.
"""

from __future__ import annotations

from typing import NamedTuple

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet

from .roles import AUDITOR, CHANNEL_MANAGER, LICENSING_TEAM, SOLUTION_ARCHITECT


def role_names(user) -> frozenset[str]:
    # Cached on the user object: one query per request however many rows are scoped.
    if not hasattr(user, "_role_names"):
        user._role_names = frozenset(user.groups.values_list("name", flat=True))
    return user._role_names


def sees_everything(user) -> bool:
    return user.is_superuser or bool(role_names(user) & {LICENSING_TEAM, AUDITOR})


def is_licensing_team(user) -> bool:
    return user.is_superuser or LICENSING_TEAM in role_names(user)


def is_channel_manager(user) -> bool:
    return CHANNEL_MANAGER in role_names(user)


def is_solution_architect(user) -> bool:
    return SOLUTION_ARCHITECT in role_names(user)


def region_lookup(region_path: str) -> str:
    return f"{region_path}__channel_managers" if region_path else "channel_managers"


def _region_key(model, region_path: str) -> str:
    """`region` itself when the model carries its partner's region (licenses, extensions,
    infrastructures, IPP applications and permissions, contacts, terms and opportunities:
    kept in step by their apps, see `partners.region_keys`), so her rows are read from an
    index of her regions, not found through her partners and the large tables in between;
    else `region_path`."""
    if not region_path or region_path == "region":
        return region_path
    return "region" if carries_region(model) else region_path


def carries_region(model) -> bool:
    """Does `model` have a `region` of its own (a partner's, or the key its rows carry)?"""
    try:
        field = model._meta.get_field("region")
    except FieldDoesNotExist:
        return False
    return field.many_to_one and field.related_model._meta.label == "partners.Region"


def _through(model, path: str, user) -> Q:
    """Rows of `model` whose `path` leads to `user`, as a condition on the model's own
    columns: `fk IN (subquery)` on the first foreign key of the path when it is a forward
    one (indexes on that column serve it, and a count needs no join), `pk IN (subquery)`
    otherwise. Neither form duplicates rows, so no DISTINCT is needed."""
    first, _, rest = path.partition("__")
    field = model._meta.get_field(first)
    if not (field.many_to_one or field.one_to_one) or not field.concrete:
        mine = model._default_manager.filter(**{path: user})
        return Q(pk__in=mine.values("pk"))
    if not rest:
        return Q(**{first: user})
    related = field.related_model._default_manager.filter(**{rest: user})
    return Q(**{f"{first}__in": related.values("pk")})


def scope(
    queryset: QuerySet, user, *, region_path: str, architect_path: str | None = None
) -> QuerySet:
    """The rows of `queryset` the user may see.

    `region_path` leads from the model to its Region ("" for Region itself);
    `architect_path` leads to the assigned solution architect, for licensing data. Without
    it the rows are partner data, which solution architects read in every region.
    """
    if sees_everything(user):
        return queryset
    model = queryset.model
    visible = Q(pk__in=[])
    if is_channel_manager(user):
        visible |= _through(model, region_lookup(_region_key(model, region_path)), user)
    if is_solution_architect(user):
        if architect_path is None:
            return queryset
        visible |= _through(model, architect_path, user)
    return queryset.filter(visible)


class RegionScope(NamedTuple):
    """Rows seen by whole regions: every row, or the rows of the regions `regions` selects
    (the ids of a query, read as a subquery where it is used)."""

    everything: bool
    regions: QuerySet | None = None


def region_scope(user) -> RegionScope | None:
    """The user's licensing data (what `scope` shows with an `architect_path`) as whole
    regions: everything for the licensing team, the regions a channel manager keeps; None
    when it is not a set of regions (a solution architect's assignments)."""
    if sees_everything(user):
        return RegionScope(everything=True)
    if is_solution_architect(user):
        return None
    regions = (
        user.managed_regions.all() if is_channel_manager(user) else user.managed_regions.none()
    )
    return RegionScope(everything=False, regions=regions.values("pk"))
