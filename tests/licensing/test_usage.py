"""record_usage: one report per infrastructure and day, every figure checked."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from licensing import selectors, services
from licensing.models import License, UsageReport
from tests.factories import TODAY
from tests.helpers import refused

FIGURES = {
    "application_objects": 1200,
    "disk_gb": Decimal("3.50"),
    "internal_users": 40,
    "external_users": 0,
    "internal_users_by_country": {"PT": 30, "es": 10},
}


@pytest.fixture
def infrastructure(provisioned, partner, release):
    return provisioned(partner).infrastructure


def report(infrastructure, **changes):
    return services.record_usage(
        infrastructure=infrastructure,
        **{"reported_on": TODAY - timedelta(days=1), **FIGURES, **changes},
        on=TODAY,
    )


def field_errors(call) -> dict:
    with pytest.raises(ValidationError) as error:
        call()
    return error.value.message_dict


def test_a_report_is_stored_with_its_figures_and_countries_upper_cased(infrastructure):
    stored = report(infrastructure)
    stored.refresh_from_db()
    assert (stored.application_objects, stored.disk_gb) == (1200, Decimal("3.50"))
    assert stored.internal_users_by_country == {"PT": 30, "ES": 10}
    assert stored.received_at is not None
    assert stored.history.get().history_change_reason == "reported"


def test_a_second_report_of_the_day_replaces_the_first_and_history_keeps_both(infrastructure):
    first = report(infrastructure)
    second = report(infrastructure, application_objects=1500, disk_gb="4.25")
    assert second.pk == first.pk
    assert UsageReport.objects.get().application_objects == 1500
    versions = list(
        first.history.order_by("history_date").values_list("application_objects", flat=True)
    )
    assert versions == [1200, 1500]
    assert first.history.latest().history_change_reason == services.usage.REPLACED


def test_another_day_is_another_report(infrastructure):
    report(infrastructure)
    report(infrastructure, reported_on=TODAY - timedelta(days=2))
    assert UsageReport.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application_objects", -1),
        ("application_objects", True),
        ("application_objects", "12"),
        ("application_objects", 1.5),
        ("application_objects", None),
        ("application_objects", 2**31),
        ("internal_users", -3),
        ("internal_users", False),
        ("external_users", [1]),
        ("external_users", -1),
        ("disk_gb", -0.01),
        ("disk_gb", True),
        ("disk_gb", "NaN"),
        ("disk_gb", "Infinity"),
        ("disk_gb", "lots"),
        ("disk_gb", 1.234),
        ("disk_gb", 10**9),
        ("disk_gb", None),
        ("reported_on", "2026-13-01"),
        ("reported_on", "yesterday"),
        ("reported_on", 20261127),
        ("reported_on", None),
    ],
)
def test_a_bad_figure_is_refused_with_its_field_named(infrastructure, field, value):
    errors = field_errors(lambda: report(infrastructure, **{field: value}))
    assert list(errors) == [field]
    assert not UsageReport.objects.exists()


def test_a_report_for_a_day_after_today_is_refused(infrastructure):
    errors = field_errors(lambda: report(infrastructure, reported_on=TODAY + timedelta(days=1)))
    assert "after today" in errors["reported_on"][0]


def test_a_report_of_today_or_30_days_ago_is_taken_and_31_days_is_refused(infrastructure):
    report(infrastructure, reported_on=TODAY)
    report(infrastructure, reported_on=TODAY - timedelta(days=30))
    refused(
        lambda: report(infrastructure, reported_on=TODAY - timedelta(days=31)),
        "more than 30 days before today",
    )


@pytest.mark.parametrize(
    ("countries", "fragment"),
    [
        ({"XX": 1}, "'XX' is not an ISO 3166"),
        ({"France": 1}, "is not an ISO 3166"),
        ({"PT": -1}, "PT: A whole number"),
        ({"PT": True}, "PT: A whole number"),
        ({"PT": 30, "ES": 11}, "add up to 41, more than the 40 internal users"),
        (["PT"], "An object of ISO 3166 country codes"),
        ("PT", "An object of ISO 3166 country codes"),
    ],
)
def test_bad_countries_are_refused_on_their_field(infrastructure, countries, fragment):
    errors = field_errors(lambda: report(infrastructure, internal_users_by_country=countries))
    assert list(errors) == ["internal_users_by_country"]
    assert fragment in " ".join(errors["internal_users_by_country"])


def test_every_bad_field_is_named_at_once(infrastructure):
    errors = field_errors(
        lambda: report(infrastructure, application_objects=-1, disk_gb="x", external_users=None)
    )
    assert set(errors) == {"application_objects", "disk_gb", "external_users"}


def test_no_countries_is_an_empty_breakdown(infrastructure):
    assert report(infrastructure, internal_users_by_country=None).internal_users_by_country == {}


def test_latest_usage_is_the_newest_report_in_the_window_per_license(
    infrastructure, django_assert_num_queries
):
    report(infrastructure, reported_on=TODAY - timedelta(days=3), application_objects=10)
    newest = report(infrastructure, reported_on=TODAY - timedelta(days=2), application_objects=20)
    report(infrastructure, reported_on=TODAY, application_objects=30)
    licenses = License.objects.all()
    with django_assert_num_queries(2):
        found = selectors.latest_usage(
            licenses, since=TODAY - timedelta(days=7), until=TODAY - timedelta(days=1)
        )
    assert {pk: r.pk for pk, r in found.items()} == {licenses.get().pk: newest.pk}
    unreported = selectors.usage_unreported(
        licenses, since=TODAY - timedelta(days=30), until=TODAY - timedelta(days=4)
    )
    assert list(unreported) == list(licenses)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reports_of_one_day_sent_at_once_leave_one_row(
    require_postgres, provisioned, partner, release
):
    infrastructure = provisioned(partner).infrastructure
    failures = []

    def send(objects):
        try:
            report(infrastructure, application_objects=objects)
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in (100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert UsageReport.objects.count() == 1
    assert UsageReport.history.count() == 2
