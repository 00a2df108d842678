"""The dashboard's usage cards: licenses over a limit, near one, unreported; each number
is the row count of the license list it opens, for the user who sees it."""

import re
from html import unescape

import pytest
from django.utils import timezone

from partners import dashboard_cache
from tests.factories import TODAY, partner_ready_for_licenses
from tests.licensing.usage_data import licensed, report

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

FIGURE = re.compile(
    r'<a class="dash-figure" data-card="(?P<card>usage-[\w-]+)" href="(?P<url>[^"]+)"'
    r'[^>]*>\s*<span class="dash-count">(?P<count>\d+)</span>'
)


def usage_figures(client) -> dict[str, tuple[int, str]]:
    html = client.get("/admin/").content.decode()
    return {m["card"]: (int(m["count"]), unescape(m["url"])) for m in FIGURE.finditer(html)}


@pytest.fixture
def world(partner, apac, channel_manager):
    by = channel_manager
    report(licensed(partner, by=by), 1, aos=2500)  # over
    report(licensed(partner, by=by), 2, disk="6.5")  # near: 93 % of 7 GB
    report(licensed(partner, by=by), 1, internal=80)  # near: exactly 80 %
    report(licensed(partner, by=by), 1)  # fine
    report(licensed(partner, by=by), 9)  # unreported for more than 7 days
    report(licensed(partner, by=by, state="expired"), 1, aos=9999)  # not judged
    licensed(partner, by=by, registered=False)  # nothing to report yet
    far = partner_ready_for_licenses(region=apac, name="Far Away Pte", country="SG")
    report(licensed(far, by=by), 1, aos=3000)
    report(licensed(far, by=by), 1, internal=99)
    licensed(far, by=by)  # registered, never reported


def test_the_cards_count_what_their_lists_show(client, world, licensing_user, channel_manager):
    client.force_login(licensing_user)
    team = usage_figures(client)
    assert {card: count for card, (count, _) in team.items()} == {
        "usage-over-limit": 2,
        "usage-near-limit": 3,
        "usage-unreported": 2,
    }
    for card, (count, url) in team.items():
        assert "usage=" in url
        assert client.get(url).context["cl"].result_count == count, card

    client.force_login(channel_manager)
    hers = usage_figures(client)
    assert {card: count for card, (count, _) in hers.items()} == {
        "usage-over-limit": 1,
        "usage-near-limit": 2,
        "usage-unreported": 1,
    }
    for card, (count, url) in hers.items():
        assert client.get(url).context["cl"].result_count == count, card


def test_an_architect_counts_only_what_is_assigned_to_him(client, world, architect):
    client.force_login(architect)
    assert {card: count for card, (count, _) in usage_figures(client).items()} == {
        "usage-over-limit": 0,
        "usage-near-limit": 0,
        "usage-unreported": 0,
    }


def test_a_new_report_is_counted_at_once(
    client, partner, channel_manager, licensing_user, settings, django_capture_on_commit_callbacks
):
    settings.DASHBOARD_CACHE_SECONDS = 300
    lic = licensed(partner, by=channel_manager)
    report(lic, 1)
    client.force_login(licensing_user)
    assert usage_figures(client)["usage-over-limit"][0] == 0
    with django_capture_on_commit_callbacks(execute=True):
        report(lic, 0, aos=4000)
    assert usage_figures(client)["usage-over-limit"][0] == 1
    assert dashboard_cache.data_version()
    assert timezone.now().date() == TODAY
