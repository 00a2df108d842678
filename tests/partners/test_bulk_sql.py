"""Many rows in one statement: what the nightly steps and the outbox rely on."""

from datetime import date

import pytest
from django.db import connection
from django.utils import timezone

from licensing.models import Notification
from partners import bulk_sql
from partners.models import ComplianceIncident, Partner
from tests.factories import PartnerFactory
from tests.helpers import needs_postgresql

pytestmark = pytest.mark.django_db

DAY = date(2026, 12, 2)


def incident(partner, kind, notes="figures"):
    return ComplianceIncident(partner=partner, kind=kind, opened_on=DAY, notes=notes)


def mail(key, recipient="ana@example.com"):
    return Notification(
        kind="incident_opened",
        recipient=recipient,
        template="incident_opened",
        params={"notes": 'quotes " and \\ backslashes, commas, {braces}'},
        key=key,
    )


def test_insert_all_gives_each_object_its_own_row_and_id():
    first, second = PartnerFactory(), PartnerFactory()
    made = [
        incident(first, "over_limit", "AOs over"),
        incident(first, "external_access", "external users"),
        incident(second, "over_limit", "disk over"),
    ]

    bulk_sql.insert_all(ComplianceIncident, made, key=("partner_id", "kind"))

    for obj in made:
        stored = ComplianceIncident.objects.get(pk=obj.pk)
        assert (stored.partner_id, stored.kind, stored.notes) == (
            obj.partner_id,
            obj.kind,
            obj.notes,
        )


def test_insert_all_with_history_writes_each_rows_creation_with_reason_and_author(
    django_user_model,
):
    """The nightly usage check's incidents: each one's history row ("+") is written with it,
    saying why and by whom, as the row was inserted."""
    first, second = PartnerFactory(), PartnerFactory()
    author = django_user_model.objects.create(username="night")
    made = [
        bulk_sql.Values(partner_id=first.pk, kind="over_limit", opened_on=DAY, notes="AOs"),
        bulk_sql.Values(partner_id=second.pk, kind="over_limit", opened_on=DAY, notes="disk"),
    ]
    history = bulk_sql.History(reason="opened by the check", user_id=author.pk, when=timezone.now())

    bulk_sql.insert_all(ComplianceIncident, made, key=("partner_id", "kind"), history=history)

    rows = ComplianceIncident.history.filter(id__in=[obj.pk for obj in made])
    assert sorted(
        rows.values_list("id", "notes", "history_type", "history_change_reason", "history_user_id")
    ) == sorted((obj.pk, obj.notes, "+", "opened by the check", author.pk) for obj in made)


def test_insert_all_refuses_a_key_that_does_not_tell_the_objects_apart():
    partner = PartnerFactory()
    twins = [incident(partner, "over_limit"), incident(partner, "over_limit")]
    needs_postgresql("elsewhere bulk_create sets the ids itself: no key is read")

    with pytest.raises(ValueError, match="does not tell"):
        bulk_sql.insert_all(ComplianceIncident, twins, key=("partner_id", "kind"))


def test_insert_new_counts_and_writes_only_the_keys_not_on_record():
    Notification.objects.create(
        kind="incident_opened", recipient="old@example.com", template="t", key="k1"
    )

    new = bulk_sql.insert_new(Notification, [mail("k1"), mail("k2"), mail("k3")], unique="key")

    assert new == 2
    assert Notification.objects.get(key="k1").recipient == "old@example.com"  # left as it was
    stored = Notification.objects.get(key="k2")
    assert stored.params == {"notes": 'quotes " and \\ backslashes, commas, {braces}'}
    assert stored.created_at is not None and stored.sent_at is None


def test_update_writes_each_objects_own_values_in_one_statement(django_assert_num_queries):
    partners = [PartnerFactory() for _ in range(3)]
    for number, partner in enumerate(partners):
        partner.standing_good = number % 2 == 0
        partner.standing_failing = [] if number % 2 == 0 else ["open_incident"] * number
        partner.standing_on = DAY

    with django_assert_num_queries(1):
        bulk_sql.update(Partner, partners, ["standing_good", "standing_failing", "standing_on"])

    stored = Partner.objects.in_bulk([p.pk for p in partners])
    assert [
        (stored[p.pk].standing_good, stored[p.pk].standing_failing, stored[p.pk].standing_on)
        for p in partners
    ] == [(True, [], DAY), (False, ["open_incident"], DAY), (True, [], DAY)]


def test_rows_given_as_plain_values_take_the_defaults_of_the_fields_left_out():
    """A mail written from plain values is the row a model instance would have written:
    blank subject, no attempt yet, its own empty params, the time it was written."""
    rows = [
        bulk_sql.Values(
            kind="incident_opened", recipient=f"{n}@example.com", template="t", key=f"v{n}"
        )
        for n in range(2)
    ]

    assert bulk_sql.insert_new(Notification, rows, unique="key") == 2

    for stored in Notification.objects.filter(key__in=["v0", "v1"]):
        assert (stored.subject, stored.attempts, stored.params, stored.last_error) == (
            "",
            0,
            {},
            "",
        )
        assert stored.created_at is not None and stored.sent_at is None


def test_insert_all_sets_the_ids_of_plain_values_too():
    partner = PartnerFactory()
    made = [
        bulk_sql.Values(partner_id=partner.pk, kind=kind, opened_on=DAY, notes=kind)
        for kind in ("over_limit", "external_access")
    ]

    bulk_sql.insert_all(ComplianceIncident, made, key=("partner_id", "kind"))

    assert {ComplianceIncident.objects.get(pk=obj.pk).notes for obj in made} == {
        "over_limit",
        "external_access",
    }


def test_any_finds_what_in_finds():
    partners = [PartnerFactory() for _ in range(3)]
    wanted = [partners[0].pk, partners[2].pk, None, partners[0].pk]

    def found(**lookup):
        return sorted(Partner.objects.filter(**lookup).values_list("pk", flat=True))

    assert found(pk__any=wanted) == found(pk__in=wanted) == sorted(wanted[:2])
    # On a foreign key, by id or by object; no values, no rows; a subquery as IN takes it.
    ComplianceIncident.objects.create(partner=partners[1], kind="other", opened_on=DAY)
    by_partner = ComplianceIncident.objects.filter(partner_id__any=[partners[1].pk])
    assert by_partner.count() == 1
    assert ComplianceIncident.objects.filter(partner__any=[partners[1]]).count() == 1
    assert found(pk__any=[]) == []
    subquery = ComplianceIncident.objects.values("partner_id")
    assert found(pk__any=subquery) == [partners[1].pk]


def test_any_sends_thousands_of_values_as_one_parameter():
    needs_postgresql("elsewhere the lookup is IN")
    ids = list(range(1, 3001))
    sql, params = Partner.objects.filter(pk__any=ids).query.sql_with_params()

    assert "= ANY(%s)" in sql
    assert [list(p) for p in params if isinstance(p, list)] == [ids]


def test_insert_numbered_gives_ids_follows_saved_relations_and_copies_history(region):
    """What seed_scale writes with: each object its own id, a foreign key to an object
    inserted a moment before read from it, a country stored as its code, and one history
    row per row."""
    needs_postgresql("seed_scale writes this way on PostgreSQL only")
    partners = [Partner(name=f"Numbered {n}", country="PT", region=region) for n in range(3)]
    bulk_sql.insert_numbered(Partner, partners)
    # An incident made before its partner had an id: the id is read from the partner object.
    unsaved = Partner(name="Numbered late", country="BR", region=region)
    incidents = [ComplianceIncident(partner=unsaved, kind="other", opened_on=DAY, notes="late")]
    bulk_sql.insert_numbered(Partner, [unsaved])
    bulk_sql.insert_numbered(ComplianceIncident, incidents)
    bulk_sql.copy_history(
        Partner,
        [p.pk for p in partners],
        ["seeded"] * 3,
        history_type="+",
        user_id=None,
        when=timezone.now(),
    )

    assert len({p.pk for p in partners}) == 3
    assert [Partner.objects.get(pk=p.pk).name for p in partners] == [p.name for p in partners]
    assert Partner.objects.get(pk=unsaved.pk).country.code == "BR"
    assert ComplianceIncident.objects.get(pk=incidents[0].pk).partner_id == unsaved.pk
    history = Partner.history.filter(id__in=[p.pk for p in partners])
    assert sorted(history.values_list("name", "history_type", "history_change_reason")) == [
        (p.name, "+", "seeded") for p in partners
    ]


def test_a_column_with_one_value_in_every_row_is_sent_once_and_written_to_each_row():
    """The mails of a night share their kind, template and params' shape; the statement
    carries such a value once, yet every row gets it, JSON and NULL included, and a
    column whose values only look alike (1 and True) is not taken for one value."""
    same = {"incident_id": 7, "notes": "AOs over"}
    rows = [mail(f"s{n}", recipient=f"{n}@example.com") for n in range(3)]
    for row in rows:
        row.params, row.attempts = same, 0
    needs_postgresql("elsewhere the rows are a VALUES list with a placeholder per value")
    captured = []

    def capture(execute, sql, params, many, context):
        captured.append(params)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert bulk_sql.insert_new(Notification, rows, unique="key") == 3

    stored = Notification.objects.filter(key__in=["s0", "s1", "s2"]).order_by("key")
    assert [(n.recipient, n.kind, n.params, n.attempts, n.sent_at) for n in stored] == [
        (f"{n}@example.com", "incident_opened", same, 0, None) for n in range(3)
    ]
    # One array per column that varies (recipient, key), a single value each for the
    # others; created_at is the statement's one time, as the database's now() would be.
    arrays = [p for p in captured[0] if isinstance(p, list)]
    assert len(arrays) == 2
    assert len({n.created_at for n in stored}) == 1
    assert bulk_sql._one_value([1, 1]) and not bulk_sql._one_value([1, True])


def test_a_single_row_has_every_column_alike_and_is_still_inserted():
    partner = PartnerFactory()
    made = [bulk_sql.Values(partner_id=partner.pk, kind="over_limit", opened_on=DAY, notes="x")]

    bulk_sql.insert_all(ComplianceIncident, made, key=("partner_id", "kind"))

    assert ComplianceIncident.objects.get(pk=made[0].pk).notes == "x"


def test_update_with_one_value_for_every_row_writes_it_to_each():
    partners = [PartnerFactory() for _ in range(3)]
    for partner in partners:
        partner.standing_good, partner.standing_failing = False, ["no_term"]
        partner.standing_on = DAY

    bulk_sql.update(Partner, partners, ["standing_good", "standing_failing", "standing_on"])

    assert (
        list(
            Partner.objects.filter(pk__in=[p.pk for p in partners]).values_list(
                "standing_good", "standing_failing", "standing_on"
            )
        )
        == [(False, ["no_term"], DAY)] * 3
    )
    # Another partner's kept value is not touched.
    other = PartnerFactory()
    assert Partner.objects.get(pk=other.pk).standing_failing == other.standing_failing


def test_instances_hold_the_fields_asked_and_read_the_others_on_access():
    partner = PartnerFactory(name="Kept Partner")
    partner.standing_failing = ["no_term"]
    partner.save()

    (found,) = bulk_sql.instances(
        Partner.objects.filter(pk=partner.pk), "pk", "standing_failing", "region_id"
    )

    assert (found.pk, found.standing_failing, found.region_id) == (
        partner.pk,
        ["no_term"],
        partner.region_id,
    )
    assert found.get_deferred_fields() >= {"name"}
    assert found.name == "Kept Partner"  # read from the database, like only()
    assert found.region == partner.region and not found._state.adding
