"""Every changelist and the dashboard cost the same number of queries at two sizes."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing.models import License
from partners import dashboard_cache
from tests.security.world import build, build_region

pytestmark = pytest.mark.django_db

SKIPPED_APPS = {"auth", "axes"}  # not ours: their lists are Django's and django-axes'


def pages():
    urls = ["/admin/"]
    for model in admin.site._registry:
        if model._meta.app_label not in SKIPPED_APPS:
            opts = model._meta
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


def query_counts(client):
    counts = {}
    for url in pages():
        dashboard_cache.data_changed()  # the dashboard counts its figures: its worst case
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        if response.status_code == 403:  # not this role's list
            continue
        assert response.status_code == 200, url
        counts[url] = len(queries.captured_queries)
    return counts


@pytest.mark.parametrize("role", ["lt", "cm_a"])
def test_every_list_and_the_dashboard_use_a_constant_number_of_queries(client, role):
    world = build()
    team = world.users["lt"]
    client.force_login(world.users[role])
    small = query_counts(client)
    from tests.factories import ReleaseFactory

    release = ReleaseFactory()
    for code in ("c", "d", "e", "f"):  # three times the data, in other regions
        build_region(world, code, team, release)
    # ...and for the channel manager, more of her own region's rows too.
    region_a = world.regions["a"]["region"]
    for lic in License.objects.exclude(partner__region=region_a)[:4]:
        lic.partner.region = region_a
        lic.partner.save()
    large = query_counts(client)
    assert large == small
    assert max(small.values()) <= 15, small
