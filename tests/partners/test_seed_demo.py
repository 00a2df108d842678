import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from licensing.models import License, PlatformRelease
from partners import models as pm
from partners import roles
from partners.choices import OpportunityStatus
from partners.services import standing, today

pytestmark = pytest.mark.django_db

MODELS = [
    pm.Region,
    pm.Partner,
    pm.Contact,
    License,
    pm.PartnershipTerm,
    pm.ComplianceIncident,
    pm.Opportunity,
    PlatformRelease,
]


def counts():
    return {m.__name__: m.objects.count() for m in MODELS} | {
        "users": get_user_model().objects.count()
    }


def test_seed_demo_twice_gives_the_same_counts(capsys):
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first
    assert "demo data ready" in capsys.readouterr().out


def test_seed_demo_is_realistic_and_covers_every_case():
    call_command("seed_demo")
    assert pm.Region.objects.count() >= 3
    assert pm.Partner.objects.count() >= 30
    assert pm.Partner.objects.values("country").distinct().count() >= 10
    assert set(pm.Opportunity.objects.values_list("status", flat=True)) == set(
        OpportunityStatus.values
    )
    reasons = " ".join(
        " ".join(standing(p, on=today()).reasons) for p in pm.Partner.objects.with_standing_data()
    )
    for fragment in (
        "no partnership term",
        "is not signed",
        "was revoked",
        "neither Sales nor",
        "unresolved compliance",
        "neither confirmed nor waived",
    ):
        assert fragment in reasons
    assert pm.Partner.objects.in_good_standing(today()).exists()
    users = get_user_model().objects
    for role in roles.ROLES:
        assert users.filter(groups__name=role).exists(), role
    assert users.get(username="cm.emea").check_password("licensing-demo")


def test_seed_demo_creates_licenses_of_every_kind_and_state():
    from licensing.choices import LicenseKind, LicenseState
    from licensing.models import License

    call_command("seed_demo")
    assert set(License.objects.values_list("policy__kind", flat=True)) == set(LicenseKind.values)
    assert set(License.objects.values_list("state", flat=True)) == set(LicenseState.values)
    # One on-premises infrastructure was registered on the portal, as a customer would.
    assert License.objects.filter(
        hosting="on_premises", infrastructure__registration_id="LISBON-ONPREM-01"
    ).exists()
