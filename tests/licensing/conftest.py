"""Licenses the licensing tests share, each made through the services as the product makes it."""

from datetime import timedelta

import pytest

from licensing import services
from licensing.choices import LicenseState
from tests.factories import OpportunityFactory, provision_license


@pytest.fixture
def provisioned(channel_manager, licensing_user):
    """`provision_license` bound to the usual users: the channel manager asks (or `by`), the
    licensing team approves and provisions, on TODAY unless `on` says otherwise."""

    def provisioned(partner, *, by=None, **kwargs):
        return provision_license(
            partner, requested_by=by or channel_manager, licensing_user=licensing_user, **kwargs
        )

    return provisioned


@pytest.fixture
def expired(provisioned, partner, release):
    """An active cloud Demo license of `partner` that the nightly run expired: the partner
    has no term after the current one."""
    lic = provisioned(partner)
    services.run_nightly(today=lic.ends_on + timedelta(days=1))
    lic.refresh_from_db()
    assert lic.state == LicenseState.EXPIRED
    return lic


@pytest.fixture
def trial(partner, architect, licensing_user, release):
    """An active Trial license for an approved opportunity of `partner`, asked for by its
    solution architect on TODAY."""
    opportunity = OpportunityFactory(partner=partner, solution_architect=architect)
    return provision_license(
        partner,
        kind="TL",
        opportunity=opportunity,
        requested_by=architect,
        licensing_user=licensing_user,
    )
