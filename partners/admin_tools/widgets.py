"""Small pieces of the admin's lists: state badges and yes/no filters."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html


def badge(text: str, tone: str, title: str = "") -> str:
    return format_html('<span class="badge badge-{}" title="{}">{}</span>', tone, title, text)


class YesNoFilter(admin.SimpleListFilter):
    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]
