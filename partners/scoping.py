"""Who sees which rows: the region scope of channel managers, in one place.

Licensing Team, Auditors and superusers see every partner; a Regional Channel Manager sees
the partners of the regions whose `channel_managers` include them; a Solution Architect
reads partner data and sees the opportunities assigned to them.
"""

from __future__ import annotations

from django.db.models import QuerySet

from .roles import AUDITOR, CHANNEL_MANAGER, LICENSING_TEAM, SOLUTION_ARCHITECT


def role_names(user) -> frozenset[str]:
    # Cached on the user object: one query per request however many rows are scoped.
    if not hasattr(user, "_role_names"):
        user._role_names = frozenset(user.groups.values_list("name", flat=True))
    return user._role_names


def sees_everything(user) -> bool:
    return user.is_superuser or bool(role_names(user) & {LICENSING_TEAM, AUDITOR})


def sees_all_partners(user) -> bool:
    """Solution architects read partner data of every region (SPEC roles table)."""
    return sees_everything(user) or SOLUTION_ARCHITECT in role_names(user)


def is_licensing_team(user) -> bool:
    return user.is_superuser or LICENSING_TEAM in role_names(user)


def is_channel_manager(user) -> bool:
    return CHANNEL_MANAGER in role_names(user)


def is_solution_architect(user) -> bool:
    return SOLUTION_ARCHITECT in role_names(user)


def scope_by_region(queryset: QuerySet, user, region_path: str) -> QuerySet:
    """Rows whose region (reached by `region_path`) the user may see; none for strangers."""
    if sees_all_partners(user):
        return queryset
    if is_channel_manager(user):
        return queryset.filter(**{f"{region_path}__channel_managers": user}).distinct()
    return queryset.none()


def scope_assigned(queryset: QuerySet, user, region_path: str, architect_field: str) -> QuerySet:
    """Opportunities and Trial licenses: everything for the licensing team and auditors,
    the region's rows for its channel managers, and their own for solution architects."""
    if sees_everything(user):
        return queryset
    visible = queryset.none()
    if is_channel_manager(user):
        visible = queryset.filter(**{f"{region_path}__channel_managers": user})
    if is_solution_architect(user):
        visible = visible | queryset.filter(**{architect_field: user})
    return visible.distinct()
