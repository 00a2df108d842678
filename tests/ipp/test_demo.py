"""IPP demo data: on top of seed_demo, every permission state, idempotent."""

import io

import pytest
from django.core.management import call_command

from ipp import services
from ipp.demo import seed_ipp
from ipp.models import Application, DeploymentCheck, DeploymentPermission
from partners.services import today

pytestmark = pytest.mark.django_db


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (Application, DeploymentPermission, DeploymentCheck)
    } | {"history": DeploymentPermission.history.count()}


def test_seed_ipp_after_seed_demo_covers_every_state_and_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()

    seed_ipp(out)
    first = counts()
    seed_ipp(out)

    assert counts() == first
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("ipp: 5 applications, 5 deployment permissions")
    permissions = DeploymentPermission.objects.all()
    states = {(p.state, p.has_consent, p.valid_until is not None) for p in permissions}
    assert states == {
        ("requested", False, False),
        ("requested", True, False),
        ("granted", True, True),
        ("refused", True, False),
        ("revoked", True, False),
    }
    # Every source is a partner's infrastructure, every target a demo Trial's.
    assert {p.source.owner_partner.name for p in permissions} == {
        "Lisbon Low-Code Lda",
        "Berlin Bits GmbH",
    }
    assert {p.target.licenses.get().state for p in permissions} == {"active", "converted"}
    # The granted permission really lets its applications run on the active Trial.
    granted = permissions.get(state="granted")
    for application in granted.applications.all():
        decision = services.check_deployment(
            application=application, target=granted.target, on=today()
        )
        assert decision.allowed, decision.reason


def test_seed_ipp_without_demo_data_says_so_and_creates_nothing():
    out = io.StringIO()
    seed_ipp(out)
    assert "run seed_demo first" in out.getvalue()
    assert not Application.objects.exists()
