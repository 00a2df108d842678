"""The license page read top-down: summary, timeline, then readable details."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing.admin.license_page import days_left, next_step
from licensing.models import License, UsageReport
from partners.dates import today
from tests.factories import TODAY, provision_license

pytestmark = pytest.mark.django_db


@pytest.fixture
def lic(partner, channel_manager, licensing_user, release):
    return provision_license(
        partner, hosting="on_premises", requested_by=channel_manager, licensing_user=licensing_user
    )


def page(client, user, lic):
    client.force_login(user)
    response = client.get(f"/admin/licensing/license/{lic.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_summary_comes_first_then_the_timeline_then_the_details(client, licensing_user, lic):
    html = page(client, licensing_user, lic)
    number = f"{lic.policy.kind}-{lic.pk}"
    summary = html.index('id="license-summary"')
    timeline = html.index('id="license-timeline"')
    details = html.index('class="license-limits"')
    assert summary < timeline < details
    head = html[summary:timeline]
    assert number in head and lic.partner.name in head and "Active" in head
    assert "ends in" in head and "in good standing" in head and "Next:" in head


def test_timeline_lists_history_mails_and_extensions(client, licensing_user, lic):
    html = page(client, licensing_user, lic)
    timeline = html[html.index('id="license-timeline"') :]
    assert "provisioned" in timeline and "approved" in timeline
    assert "Mail: " in timeline
    assert "Lena" in timeline or licensing_user.username in timeline


def test_limits_are_a_table_with_the_latest_usage(client, licensing_user, lic):
    UsageReport.objects.create(
        infrastructure=lic.infrastructure,
        reported_on=today() - timedelta(days=1),
        application_objects=1234,
        disk_gb=3,
        internal_users=42,
        external_users=0,
        received_at=lic.provisioned_at,
    )
    html = page(client, licensing_user, lic)
    table = html[html.index('class="license-limits"') :]
    table = table[: table.index("</table>")]
    assert "1234" in table and "42" in table and "used (reported" in table
    assert "{" not in table  # no raw JSON


def test_environments_are_a_list(client, licensing_user, lic):
    html = page(client, licensing_user, lic)
    assert "<li>Development</li>" in html and "Development,Production" not in html


def test_query_count_does_not_grow_with_the_history(
    client, licensing_user, lic, django_assert_max_num_queries
):
    client.force_login(licensing_user)
    url = f"/admin/licensing/license/{lic.pk}/change/"
    client.get(url)
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for n in range(5):
        lic.state_reason = f"note {n}"
        lic._change_reason = f"note {n}"
        lic.save(update_fields=["state_reason"])
    with django_assert_max_num_queries(len(before.captured_queries)):
        assert client.get(url).status_code == 200


def test_days_left_and_next_step_read_as_sentences(lic):
    assert days_left(lic, lic.ends_on - timedelta(days=12)).startswith("ends in 12 days")
    assert days_left(lic, lic.ends_on).startswith("ends today")
    assert days_left(lic, lic.ends_on + timedelta(days=3)).startswith("ended 3 days ago")
    assert "good standing" in next_step(lic, TODAY)
    requested = License(state="requested", policy=lic.policy)
    assert "approves or refuses" in next_step(requested, TODAY)
