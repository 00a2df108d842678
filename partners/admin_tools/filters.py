"""List filters that offer only the values in use on the rows the user may see: the
countries of the partners (or prospects) present, the people assigned to them. A list of
all 250 countries or of every user is a page-long sidebar that filters to nothing.

Which values are in use is read from every row in the user's scope (125,000 opportunities:
40 ms for the prospects' countries and their architects, on every visit of the list), so
it is kept like the dashboard's figures: in the shared cache per scope, under the data
version that every committed change of the model replaces (`dashboard_cache`)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django_countries.filters import CountryFilter

from partners import dashboard_cache
from partners.dates import today


def in_use(request, model, field_path: str, read: Callable[[], list]) -> list:
    """`read()`, the values of `field_path` in use on the user's rows of `model`: from the
    cache while the data is unchanged, when the model's changes renew the data version."""
    if model._meta.label not in dashboard_cache.COUNTED_MODELS:
        return read()
    section = f"in-use:{model._meta.label_lower}:{field_path}"
    version = dashboard_cache.data_version()
    return dashboard_cache.cached(version, request.user, today(), section, read)


class CountriesInUseFilter(CountryFilter):
    """The countries of the rows in the user's scope (django-countries' own filter reads
    every row of the table, other regions' included)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.request = request
        super().__init__(field, request, params, model, model_admin, field_path)

    def lookup_choices(self, changelist):
        def read():
            rows = changelist.root_queryset.order_by().values_list(self.field_path, flat=True)
            return sorted(str(code) for code in rows.distinct())

        codes = set(in_use(self.request, changelist.model, self.field_path, read))
        for code, name in self.field.get_choices(include_blank=False):
            if code in codes:
                yield code, name


class PeopleInUseFilter(admin.RelatedOnlyFieldListFilter):
    """The users assigned to the rows in the user's scope (so: only people of the role the
    field holds, channel managers or solution architects), by name."""

    def field_choices(self, field, request, model_admin):
        def read():
            assigned = (
                model_admin.get_queryset(request)
                .order_by()
                .values_list(f"{self.field_path}__pk", flat=True)
                .distinct()
            )
            people = field.remote_field.model._default_manager.filter(pk__in=assigned)
            return [
                (person.pk, person.get_full_name() or person.get_username())
                for person in people.order_by("first_name", "last_name", "username")
            ]

        return in_use(request, model_admin.model, self.field_path, read)
