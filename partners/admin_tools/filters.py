"""List filters that offer only the values in use on the rows the user may see: the
countries of the partners (or prospects) present, the people assigned to them. A list of
all 250 countries or of every user is a page-long sidebar that filters to nothing."""

from __future__ import annotations

from django.contrib import admin
from django_countries.filters import CountryFilter


class CountriesInUseFilter(CountryFilter):
    """The countries of the rows in the user's scope (django-countries' own filter reads
    every row of the table, other regions' included)."""

    def lookup_choices(self, changelist):
        in_use = set(
            changelist.root_queryset.order_by().values_list(self.field_path, flat=True).distinct()
        )
        for code, name in self.field.get_choices(include_blank=False):
            if code in in_use:
                yield code, name


class PeopleInUseFilter(admin.RelatedOnlyFieldListFilter):
    """The users assigned to the rows in the user's scope (so: only people of the role the
    field holds, channel managers or solution architects), by name."""

    def field_choices(self, field, request, model_admin):
        in_use = (
            model_admin.get_queryset(request)
            .order_by()
            .values_list(f"{self.field_path}__pk", flat=True)
            .distinct()
        )
        people = field.remote_field.model._default_manager.filter(pk__in=in_use)
        return [
            (person.pk, person.get_full_name() or person.get_username())
            for person in people.order_by("first_name", "last_name", "username")
        ]
