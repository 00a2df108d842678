"""seed_scale: bulk scale data for the benchmarks (benchmarks/run.py), small numbers here.

Runs on SQLite by default and on PostgreSQL with DATABASE_URL, where the exclusion
constraint on partnership terms checks the "never overlap" rule on every insert.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from config.seeding.context import PREFIX
from licensing.choices import LicenseKind, LicenseState
from licensing.models import Environment, Infrastructure, License, Notification
from licensing.services import run_nightly
from partners.choices import OpportunityStatus
from partners.models import Contact, Opportunity, Partner, PartnershipTerm
from partners.services import today

pytestmark = pytest.mark.django_db

PARTNERS, LICENSES = 30, 300


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_scale", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def seeded():
    return seed(partners=PARTNERS, licenses=LICENSES)


def test_seed_scale_creates_the_requested_counts_of_every_kind_and_state(seeded):
    assert Partner.objects.filter(name__startswith=PREFIX).count() == PARTNERS
    assert License.objects.count() == LICENSES
    assert Contact.objects.count() == 2 * PARTNERS
    assert set(License.objects.values_list("policy__kind", flat=True)) == set(LicenseKind.values)
    assert set(License.objects.values_list("state", flat=True)) == set(LicenseState.values)
    assert set(Opportunity.objects.values_list("status", flat=True)) == set(
        OpportunityStatus.values
    )
    assert Partner.objects.values("country").distinct().count() >= 10
    # A progress line per batch with its rate, then the summary.
    assert "rows/s" in seeded
    assert f"partners: {PARTNERS}" in seeded


def test_seed_scale_gives_every_provisioned_license_its_infrastructure(seeded):
    provisioned = License.objects.filter(provisioned_at__isnull=False)
    assert provisioned.exists()
    assert not provisioned.filter(infrastructure__isnull=True).exists()
    assert Infrastructure.objects.count() == provisioned.count()
    assert Environment.objects.count() >= 2 * Infrastructure.objects.count()
    registered = Infrastructure.objects.exclude(registration_id="")
    ids = [i.lower() for i in registered.values_list("registration_id", flat=True)]
    assert len(ids) == len(set(ids))
    # Hosting follows the kind: Internal licenses run on-premises only.
    assert set(License.objects.filter(policy__kind="IL").values_list("hosting", flat=True)) == {
        "on_premises"
    }


def test_seed_scale_terms_are_consecutive_years_that_never_overlap(seeded):
    for partner in Partner.objects.filter(name__startswith=PREFIX).prefetch_related("terms"):
        terms = sorted(partner.terms.all(), key=lambda t: t.starts_on)
        if partner.status != "prospective":
            assert 1 <= len(terms) <= 3
        for earlier, later in zip(terms, terms[1:], strict=False):
            assert earlier.ends_on < later.starts_on
    assert PartnershipTerm.objects.exists()


def test_seed_scale_writes_history_rows_for_bulk_created_objects(seeded):
    # bulk_create sends no post_save: the history rows come from bulk_create_with_history.
    created = License.history.filter(history_type="+")
    assert created.values("id").distinct().count() == LICENSES
    assert created.first().history_change_reason == "seed_scale"
    assert Partner.history.filter(history_type="+").count() >= PARTNERS
    assert Infrastructure.history.count() >= Infrastructure.objects.count()


def test_seed_scale_rows_carry_their_owners_region_as_they_are_inserted(monkeypatch):
    """A channel manager's lists read the region key on each row: the seed sets it as it
    inserts (no fill-up UPDATE over millions of rows afterwards), the owner's region."""
    from django.db.models import F

    from config.seeding import scale
    from ipp.models import Application, DeploymentPermission
    from licensing.models import Extension

    for module in (scale.partners_regions, scale.licensing_regions, scale.ipp_regions):
        monkeypatch.setattr(module, "fill_regions", lambda: None)

    seed(partners=PARTNERS, licenses=LICENSES)

    owned = {
        Contact: "partner__region",
        PartnershipTerm: "partner__region",
        Opportunity: "partner__region",
        License: "partner__region",
        Extension: "license__partner__region",
        Infrastructure: "owner_partner__region",
        Application: "developed_in__owner_partner__region",
        DeploymentPermission: "source__owner_partner__region",
    }
    for model, owner_region in owned.items():
        rows = model.objects.exclude(**{owner_region: None})
        assert rows.exists(), model
        assert not rows.exclude(region=F(owner_region)).exists(), model
        assert not rows.filter(region=None).exists(), model


def test_seed_scale_sends_no_mail_and_queues_nothing(seeded):
    assert mail.outbox == []
    assert not Notification.objects.exists()


def test_due_on_makes_exactly_n_licenses_due_that_the_nightly_run_expires(seeded):
    day = today() + timedelta(days=40)  # later than many active ends: those move away
    out = seed(due_on=day, due=12)
    due = License.objects.filter(state=LicenseState.ACTIVE, ends_on__lt=day)
    # The predicate of the nightly run (licensing/nightly.py: ends_on < D, active).
    assert due.count() == 12
    assert set(due.values_list("ends_on", flat=True)) == {day - timedelta(days=1)}
    assert "already seeded" in out
    ids = set(due.values_list("pk", flat=True))
    counts = run_nightly(today=day)
    # All of them expire (trials, or partners not in good standing on D): the benchmark's
    # SQL baseline changes the same rows.
    assert counts["expired"] + counts["trials_expired"] == 12
    assert counts["renewed"] == 0
    assert License.objects.filter(pk__in=ids, state=LicenseState.EXPIRED).count() == 12


def test_due_on_run_again_changes_nothing(seeded):
    day = today() + timedelta(days=1)
    seed(due_on=day, due=5)
    rows = License.history.count()
    out = seed(due_on=day, due=5)
    assert "0 changed, 0 others moved" in out
    assert License.history.count() == rows


def test_second_seed_without_force_refuses_with_a_clear_message(seeded):
    with pytest.raises(CommandError, match="already holds scale data .*--force"):
        seed(partners=PARTNERS, licenses=LICENSES)
    with pytest.raises(CommandError, match="already holds scale data"):
        seed()
    assert License.objects.count() == LICENSES


def test_force_adds_another_set_numbered_after_the_first(seeded):
    seed(partners=PARTNERS, licenses=LICENSES, force=True)
    assert Partner.objects.filter(name__startswith=PREFIX).count() == 2 * PARTNERS
    assert License.objects.count() == 2 * LICENSES


def test_due_on_without_due_is_refused():
    with pytest.raises(CommandError, match="go together"):
        seed(due_on=today())
