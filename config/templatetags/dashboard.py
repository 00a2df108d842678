"""`{% dashboard_panel %}`: the role-aware dashboard on the admin index.

Used by templates/admin/index.html.

A template tag rather than a custom AdminSite: the index keeps `admin.site` and its app list,
and the numbers come from `config.dashboard`, which asks each model admin for the rows
this user's changelist shows.
"""

from django import template

from config.dashboard import dashboard

register = template.Library()


@register.inclusion_tag("admin/dashboard.html", takes_context=True)
def dashboard_panel(context) -> dict:
    return dashboard(context["request"])
