"""The nightly run, branch by branch, with the dates of SPEC "Dates"."""

import gc
import os
import weakref
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing import nightly, outbox, selectors, services
from licensing.choices import LicenseState, RunStatus
from licensing.models import License, NightlyRun, Notification
from licensing.nightly.bulk import old_objects_left_alone
from partners.choices import PartnerStatus
from partners.models import Partner
from partners.services import refresh_standing
from tests.factories import (
    TODAY,
    IncidentFactory,
    OpportunityFactory,
    ReleaseFactory,
    TermFactory,
    partner_ready_for_licenses,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(partner, provisioned, release):
    """An active cloud DL provisioned TODAY; it ends with the partner's current term."""
    lic = provisioned(partner)
    assert lic.ends_on == partner.renewal_date(TODAY)
    return lic


def next_term(partner, after, **kwargs):
    start = after + timedelta(days=1)
    return TermFactory(
        partner=partner, starts_on=start, ends_on=start + timedelta(days=364), **kwargs
    )


def run(day):
    return services.run_nightly(today=day)


def reload(lic):
    lic.refresh_from_db()
    return lic


# --- (a) renew or expire -----------------------------------------------------------------


def test_license_of_a_partner_in_good_standing_renews_to_the_next_renewal_date(demo, partner):
    end = demo.ends_on
    term = next_term(partner, end)
    assert run(end)["renewed"] == 0  # ends_on is still a valid day
    counts = run(end + timedelta(days=1))
    assert counts["renewed"] == 1
    assert (reload(demo).state, demo.ends_on) == (LicenseState.ACTIVE, term.ends_on)
    record = demo.history.latest()
    assert record.history_user.username == "system"
    assert record.history_change_reason == f"renewed to {term.ends_on}: partner in good standing"


def test_license_expires_when_the_partner_is_not_in_good_standing_on_the_day_after(demo, partner):
    end = demo.ends_on
    next_term(partner, end, fee_confirmed_on=None)  # renewed, but the fee is not confirmed
    assert run(end + timedelta(days=1))["expired"] == 1
    assert (reload(demo).state, demo.expired_on) == (LicenseState.EXPIRED, end + timedelta(days=1))
    assert "neither confirmed nor waived" in demo.history.latest().history_change_reason


def test_one_night_writes_each_license_its_own_end_date_and_reason(region, provisioned, release):
    """Partners renewing to different term ends, others expiring for different reasons,
    in one batch: every row and its history row get their own values."""
    renewing, expiring = [], []
    for i in range(6):
        partner = partner_ready_for_licenses(region=region, name=f"Partner {i}", country="PT")
        lic = provisioned(partner)
        end = lic.ends_on
        if i % 2:
            IncidentFactory(partner=partner, opened_on=end - timedelta(days=i))
            expiring.append((lic, end - timedelta(days=i)))
        else:
            term = next_term(partner, end)
            term.ends_on -= timedelta(days=i)  # each partner its own renewal date
            term.save()
            renewing.append((lic, term.ends_on))
    day = max(lic.ends_on for lic, _ in renewing + expiring) + timedelta(days=1)
    counts = run(day)
    assert (counts["renewed"], counts["expired"]) == (3, 3)
    for lic, ends_on in renewing:
        assert (reload(lic).state, lic.ends_on) == (LicenseState.ACTIVE, ends_on)
        assert lic.history.latest().history_change_reason == (
            f"renewed to {ends_on}: partner in good standing"
        )
        assert lic.history.latest().ends_on == ends_on
    for lic, opened_on in expiring:
        assert reload(lic).state == LicenseState.EXPIRED
        record = lic.history.latest()
        assert (record.state, record.expired_on) == (LicenseState.EXPIRED, lic.expired_on)
        assert f"(opened {opened_on})" in record.history_change_reason


def test_a_missed_night_is_caught_up_with_the_right_expiry_date(demo):
    end = demo.ends_on
    run(end + timedelta(days=6))  # nights end+1 .. end+5 never ran
    assert (reload(demo).state, demo.expired_on) == (LicenseState.EXPIRED, end + timedelta(days=1))


def split_night(day, chunks=2) -> dict:
    """The night of `day` as the workers run it split: each chunk, then the global steps."""
    counts = [nightly.run_nightly(today=day, chunk=(index, chunks)) for index in range(chunks)]
    counts.append(nightly.run_global(today=day))
    return {key: sum(c.get(key, 0) for c in counts) for key in counts[0]}


# The license steps of a whole night read the standing the night has just kept for its day;
# a chunk of a split night runs before that, and reads the rule in SQL: both revive.
@pytest.mark.parametrize("night", [run, split_night], ids=["one run", "split in chunks"])
def test_expired_license_is_active_again_once_the_partner_is_back_within_grace(
    demo, partner, night
):
    end = demo.ends_on
    night(end + timedelta(days=1))
    term = next_term(partner, end, signed_on=end + timedelta(days=10))  # signed late
    assert night(end + timedelta(days=5))["reactivated"] == 0  # not signed yet on that day
    assert night(end + timedelta(days=11))["reactivated"] == 1
    assert (reload(demo).state, demo.ends_on, demo.expired_on) == (
        LicenseState.ACTIVE,
        term.ends_on,
        None,
    )


def test_partner_back_after_the_grace_period_does_not_revive_the_license(demo, partner):
    end = demo.ends_on
    run(end + timedelta(days=1))
    next_term(partner, end, signed_on=end + timedelta(days=40))
    counts = run(end + timedelta(days=41))
    assert counts["reactivated"] == 0 and counts["cancelled"] == 1
    assert reload(demo).state == LicenseState.CANCELLED


def test_partner_without_a_term_becomes_former_after_the_longest_grace(demo, partner):
    end = demo.ends_on
    run(end + timedelta(days=30))
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE
    assert run(end + timedelta(days=31))["partners_former"] == 1
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.FORMER
    assert partner.history.latest().history_change_reason == "former: partnership not renewed"


# --- (b) trials and (c) grace ------------------------------------------------------------


# `trial`: an active Trial license of `partner` asked for by its architect (conftest).


def test_trial_expires_the_day_after_its_last_valid_day(trial):
    assert run(trial.ends_on)["trials_expired"] == 0
    assert run(trial.ends_on + timedelta(days=1))["trials_expired"] == 1
    assert (reload(trial).state, trial.expired_on) == (
        LicenseState.EXPIRED,
        trial.ends_on + timedelta(days=1),
    )


def test_expired_license_is_cancelled_on_the_first_run_after_the_grace_period(trial):
    expired_on = trial.ends_on + timedelta(days=1)
    run(expired_on)
    assert run(expired_on + timedelta(days=29))["cancelled"] == 0
    assert run(expired_on + timedelta(days=30))["cancelled"] == 1
    assert (reload(trial).state, trial.cancelled_on) == (
        LicenseState.CANCELLED,
        expired_on + timedelta(days=30),
    )
    assert "applications offline" in trial.history.latest().history_change_reason


# --- (d) reminders -----------------------------------------------------------------------


def reminder_keys():
    return sorted(Notification.objects.filter(kind="reminder").values_list("key", flat=True))


def test_reminders_go_to_both_contacts_and_the_channel_manager_once(demo, partner, channel_manager):
    partner.channel_manager = channel_manager
    partner.save()
    end = demo.ends_on
    assert run(end - timedelta(days=61))["reminders"] == 0
    assert run(end - timedelta(days=60))["reminders"] == 3
    recipients = set(
        Notification.objects.filter(kind="reminder").values_list("recipient", flat=True)
    )
    assert recipients == {*partner.contacts.values_list("email", flat=True), channel_manager.email}
    # Written in bulk, they carry the partner's region: her mail list finds them by it.
    reminders = Notification.objects.filter(kind="reminder")
    assert set(reminders.values_list("region_id", flat=True)) == {partner.region_id}
    assert run(end - timedelta(days=60))["reminders"] == 0  # same day again
    assert run(end - timedelta(days=45))["reminders"] == 0  # the 60-day one is sent already
    assert run(end - timedelta(days=30))["reminders"] == 3
    assert all(f":{end}:" in key for key in reminder_keys())


def test_missed_reminders_are_never_sent_late(demo):
    end = demo.ends_on
    run(end - timedelta(days=5))  # the 60- and 30-day nights were missed
    assert {key.split(":")[3] for key in reminder_keys()} == {"7"}


def test_each_policy_keeps_its_own_reminder_window_in_the_same_night(demo, trial):
    night = trial.ends_on - timedelta(days=20)
    License.objects.filter(pk=demo.pk).update(ends_on=night + timedelta(days=45))
    run(night)
    # The DL is within its 60-day window; the trial, 20 days out, not yet in its 14-day one.
    assert {(key.split(":")[1], key.split(":")[3]) for key in reminder_keys()} == {
        (str(demo.pk), "60")
    }
    run(trial.ends_on - timedelta(days=14))
    assert {(key.split(":")[1], key.split(":")[3]) for key in reminder_keys()} == {
        (str(demo.pk), "60"),
        (str(trial.pk), "14"),
    }


def test_trial_reminders_go_to_the_solution_architect(trial, architect):
    run(trial.ends_on - timedelta(days=14))
    assert list(
        Notification.objects.filter(kind="reminder").values_list("recipient", flat=True)
    ) == [architect.email]


def test_reminder_recipients_in_their_edge_cases(demo, trial, partner, architect, channel_manager):
    """Both contacts then the channel manager for a partner-program license; for a trial,
    its architect, nobody if he has no address, its requester if it has no opportunity."""
    partner.channel_manager = channel_manager
    partner.save()
    orphan = License.objects.get(pk=trial.pk)
    orphan.pk = None  # a trial without an opportunity: its requester is told
    orphan.opportunity = None
    orphan.requested_by = channel_manager
    orphan.activation_code = ""
    orphan.save()
    trial.requested_by = channel_manager  # someone else asked for it
    trial.save()
    assert selectors.reminder_recipients(trial) == [architect.email]
    architect.email = ""  # an architect without an address: nobody, not the requester
    architect.save()
    contacts = list(partner.contacts.order_by("role").values_list("email", flat=True))
    assert len(contacts) == 2
    found = selectors.recipients_of([demo.pk, trial.pk, orphan.pk])
    got = {pk: emails for pk, _, _, _, emails in found}
    assert got == {
        demo.pk: [*contacts, channel_manager.email],
        trial.pk: [],
        orphan.pk: [channel_manager.email],
    }


def test_reminder_mail_names_the_license_and_its_end(demo, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run(demo.ends_on - timedelta(days=7))
    # The night ends by sending what is pending: the reminders (and the onboarding mail
    # the fixture left in the outbox).
    reminders = [m for m in mail.outbox if "ends on" in m.subject]
    assert len(reminders) == 2
    assert f"ends on {demo.ends_on:%Y-%m-%d}" in reminders[0].subject
    assert "renew automatically when the partner is in good standing" in reminders[0].body


# --- (e) late provisioning ---------------------------------------------------------------


def test_late_provisioning_is_flagged_once_with_one_alert_to_the_licensing_team(
    partner, provisioned, settings
):
    lic = provisioned(partner, state="approved")
    due = reload(lic).provisioning_due_on
    assert run(due)["overdue_flagged"] == 0
    counts = run(due + timedelta(days=1))
    assert (counts["overdue_flagged"], counts["overdue_alerts"]) == (1, 1)
    assert reload(lic).provisioning_overdue_since == due + timedelta(days=1)
    alert = Notification.objects.get(kind="overdue_alert")
    assert alert.recipient == settings.LICENSING_TEAM_EMAIL
    assert alert.params["license_ids"] == [lic.pk]
    assert run(due + timedelta(days=2))["overdue_alerts"] == 0
    assert Notification.objects.filter(kind="overdue_alert").count() == 1


# --- (f) platform upgrades ---------------------------------------------------------------


def test_daily_report_lists_live_infrastructures_behind_the_latest_stable_release(
    demo, partner, provisioned, licensing_user
):
    on_prem = provisioned(partner, hosting="on_premises")
    services.register_infrastructure(
        activation_code=on_prem.activation_code,
        registration_id="OLD-RELEASE-1",
        platform_version="11.30.0",
    )
    ReleaseFactory(version="11.31.0", released_on=TODAY, is_stable=True)
    counts = run(TODAY + timedelta(days=1))
    assert counts["upgrade_reports"] == 1
    report = Notification.objects.get(kind="upgrade_report")
    # Both the cloud DL (created on 11.30.0) and the on-prem one are behind 11.31.0.
    assert sorted(report.params["infrastructure_ids"]) == sorted(
        [demo.infrastructure_id, on_prem.infrastructure_id]
    )
    services.record_upgrade(reload(on_prem).infrastructure, by=licensing_user)
    run(TODAY + timedelta(days=2))
    latest_report = Notification.objects.filter(kind="upgrade_report").latest("created_at")
    assert latest_report.params["infrastructure_ids"] == [demo.infrastructure_id]
    assert on_prem.infrastructure.history.latest().history_user == licensing_user


def test_no_report_when_every_infrastructure_is_current(demo):
    assert run(TODAY + timedelta(days=1))["upgrade_reports"] == 0


# --- idempotency, crashes, locks, cost ---------------------------------------------------


def snapshot():
    return (
        sorted(License.objects.values_list("pk", "state", "ends_on", "expired_on", "cancelled_on")),
        sorted(Notification.objects.values_list("key", flat=True)),
        License.history.count(),
    )


def test_running_a_day_twice_changes_nothing_the_second_time(demo, trial, partner):
    day = demo.ends_on - timedelta(days=7)
    first = run(day)
    before = snapshot()
    second = run(day)
    assert snapshot() == before
    assert not any(second.values()), second
    assert any(first.values())


def test_a_run_that_crashed_halfway_finishes_the_rest_when_run_again(
    partner, provisioned, monkeypatch, region
):
    from tests.factories import partner_ready_for_licenses

    licenses = []
    for i in range(7):
        other = partner_ready_for_licenses(region=region, name=f"Batch partner {i}")
        licenses.append(provisioned(other, hosting="on_premises"))
    monkeypatch.setattr(nightly.bulk, "BATCH", 3)
    real_save, calls = nightly.Context.save, {"n": 0}

    def crash_on_second_batch(self, objects, fields, model=License):
        calls["n"] += 1
        if calls["n"] == 3:  # batch 1 = renewed + expired saves; batch 2 crashes
            raise RuntimeError("database went away")
        return real_save(self, objects, fields, model)

    day = licenses[0].ends_on + timedelta(days=1)
    monkeypatch.setattr(nightly.Context, "save", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        run(day)
    assert License.objects.filter(state=LicenseState.EXPIRED).count() == 3  # batch 1 kept
    monkeypatch.setattr(nightly.Context, "save", real_save)
    assert run(day)["expired"] == 4
    for lic in licenses:
        assert lic.history.filter(history_change_reason__startswith="expired").count() == 1
    assert list(NightlyRun.objects.order_by("started_at").values_list("status", flat=True)) == [
        RunStatus.FAILED,
        RunStatus.FINISHED,
    ]


# A run skipped while another holds the lock, a killed run and its rerun: test_nightly_lock.py


def test_nightly_runs_are_listed_with_their_counts(demo):
    run(demo.ends_on + timedelta(days=1))
    record = NightlyRun.objects.get()
    assert record.status == RunStatus.FINISHED and record.counts["expired"] == 1
    assert record.duration is not None


def make_due_licenses(n, partner, licensing_user):
    """n active DLs of one partner that ended yesterday (bulk: the services would refuse a
    second DL for the same partner)."""
    from licensing.models import LicensePolicy

    policy = LicensePolicy.objects.get(kind="DL")
    License.objects.bulk_create(
        License(
            policy=policy,
            partner=partner,
            licensee_name=f"Bulk {i}",
            hosting="shared_cloud",
            state=LicenseState.ACTIVE,
            requested_by=licensing_user,
            requested_on=TODAY,
            starts_on=TODAY - timedelta(days=300),
            ends_on=TODAY - timedelta(days=1),
        )
        for i in range(n)
    )


def test_query_count_does_not_grow_with_the_licenses_due(partner, licensing_user, monkeypatch):
    if connection.vendor != "postgresql":
        # SQLite caps bulk statements at 999 parameters: its batches split by size.
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("this test needs PostgreSQL")
        pytest.skip("bulk statement sizes differ on SQLite; asserted on PostgreSQL (CI)")
    # The steps are counted, the expiry mails they write included; the run's last step
    # then sends each mail with its own few queries, as the outbox does (counted per batch
    # of mails in test_outbox).
    monkeypatch.setattr(outbox, "deliver_notifications", lambda **kwargs: 0)
    nightly.system_user()
    IncidentFactory(partner=partner)  # not in good standing: every due license expires
    # The standing kept for the day, as a night leaves it: both runs then find it unchanged
    # (a change would add its one UPDATE, whatever the licenses due).
    refresh_standing([partner.pk], on=TODAY)
    counts = []
    for n in (10, 200):
        Notification.objects.all().delete()
        License.objects.all().delete()
        make_due_licenses(n, partner, licensing_user)
        with CaptureQueriesContext(connection) as queries:
            assert run(TODAY)["expired"] == n
        counts.append(len(queries.captured_queries))
        assert Notification.objects.filter(kind="expired").count() == n * 2  # both contacts
    assert counts[0] == counts[1], counts


# --- split across workers ----------------------------------------------------------------


def night_result():
    """What a night leaves behind, free of timestamps and of how the work was split."""
    alerted = sorted(
        pk
        for params in Notification.objects.filter(kind="overdue_alert").values_list(
            "params", flat=True
        )
        for pk in params["license_ids"]
    )
    return (
        sorted(
            License.objects.values_list(
                "pk", "state", "ends_on", "expired_on", "cancelled_on", "provisioning_overdue_since"
            )
        ),
        sorted(License.history.values_list("id", "history_change_reason")),
        sorted(Notification.objects.exclude(kind="overdue_alert").values_list("key", flat=True)),
        alerted,
        sorted(Partner.objects.values_list("pk", "status")),
    )


def test_a_night_split_in_chunks_ends_exactly_like_one_run(
    partner, provisioned, architect, region, release
):
    from django.db import transaction

    from tests.factories import partner_ready_for_licenses

    for i in range(9):
        other = partner_ready_for_licenses(region=region, name=f"Chunk partner {i}")
        provisioned(other, hosting="on_premises")
        if i % 3 == 0:
            next_term(other, other.renewal_date(TODAY))  # some renew, the others expire
        if i % 4 == 0:
            provisioned(other, state="approved")  # left late
        opportunity = OpportunityFactory(partner=other, solution_architect=architect)
        provisioned(other, by=architect, kind="TL", opportunity=opportunity)
    day = partner.renewal_date(TODAY) + timedelta(days=40)  # everything falls due at once

    with transaction.atomic():
        run(day)
        whole = night_result()
        transaction.set_rollback(True)
    for index in range(3):
        nightly.run_nightly(today=day, chunk=(index, 3))
    nightly.run_global(today=day)
    assert night_result() == whole
    assert whole[0] and any(state == "cancelled" for _, state, *_ in whole[0])
    parts = sorted(NightlyRun.objects.values_list("part", flat=True))
    assert parts == ["chunk 1/3", "chunk 2/3", "chunk 3/3", "global"]


def test_the_nightly_task_fans_out_and_the_last_chunk_runs_the_global_steps(
    demo, settings, django_capture_on_commit_callbacks
):
    from licensing import tasks

    day = demo.ends_on + timedelta(days=40)
    result = tasks.run_nightly.delay(day.isoformat(), chunks=4).get()  # eager in tests
    assert result == {"chunks": 4}
    parts = sorted(NightlyRun.objects.filter(day=day).values_list("part", flat=True))
    assert parts == ["chunk 1/4", "chunk 2/4", "chunk 3/4", "chunk 4/4", "global"]
    demo.refresh_from_db()
    assert demo.state == LicenseState.CANCELLED


def test_the_night_sets_the_process_s_old_objects_aside_and_hands_them_back():
    """The garbage collector leaves the objects alive before the night alone while it runs,
    and collects what among them became garbage once it is over: nothing is kept for good."""

    class Node:
        pass

    assert gc.get_freeze_count() == 0
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    with old_objects_left_alone():
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert gone() is not None  # set aside: not walked during the night
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_the_night_runs_its_steps_with_the_old_objects_set_aside(monkeypatch):
    """`run_nightly` runs every step inside `old_objects_left_alone` and hands them back."""
    seen = []

    def probe(ctx):
        seen.append(gc.get_freeze_count())

    monkeypatch.setattr(nightly.runner, "STEPS", [probe])
    run(TODAY)
    assert len(seen) == 1 and seen[0] > 0
    assert gc.get_freeze_count() == 0
