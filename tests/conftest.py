from datetime import UTC, datetime, time

import pytest

from partners import roles
from tests.factories import (
    TODAY,
    PartnerFactory,
    RegionFactory,
    ReleaseFactory,
    TermFactory,
    UserFactory,
    partner_ready_for_licenses,
)


@pytest.fixture
def noon_on_today(time_machine):
    """The clock at noon UTC on factories.TODAY, for code that judges rules on "today" (the
    services without an `on`, the admin, the dashboard, the portal, the API)."""
    time_machine.move_to(datetime.combine(TODAY, time(12), tzinfo=UTC))


@pytest.fixture
def good_partner(db):
    """A partner in good standing on factories.TODAY."""
    partner = PartnerFactory()
    TermFactory(partner=partner)
    return partner


@pytest.fixture
def licensing_user(db):
    return UserFactory(username="lena", roles=[roles.LICENSING_TEAM])


@pytest.fixture
def auditor(db):
    return UserFactory(username="aaron", roles=[roles.AUDITOR])


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def region(db):
    return RegionFactory(code="emea-south", name="EMEA South")


@pytest.fixture
def apac(db):
    """A second region, outside `region` and its channel manager's scope."""
    return RegionFactory(code="apac", name="Asia Pacific")


@pytest.fixture
def channel_manager(region):
    manager = UserFactory(username="marta", roles=[roles.CHANNEL_MANAGER])
    region.channel_managers.add(manager)
    return manager


@pytest.fixture
def architect(db):
    return UserFactory(username="sam", roles=[roles.SOLUTION_ARCHITECT])


@pytest.fixture
def partner(region):
    """In good standing, both contacts, renewed contract, in the channel manager's region."""
    return partner_ready_for_licenses(region=region, name="Lisbon Low-Code Lda", country="PT")


@pytest.fixture
def release(db):
    return ReleaseFactory()


@pytest.fixture(autouse=True)
def _signing_key(settings, tmp_path_factory):
    # Each test session signs with its own throwaway key, never a developer's.
    from licensing import signing

    settings.LICENSE_SIGNING_KEY_FILE = str(tmp_path_factory.getbasetemp() / "signing-key.pem")
    settings.LICENSE_SIGNING_KEY_AUTOGENERATE = True
    signing.clear_key_cache()
    yield
    signing.clear_key_cache()


@pytest.fixture(autouse=True)
def _empty_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def require_postgres():
    """For tests of row locks and concurrency (see tests.helpers.needs_postgresql)."""
    from tests.helpers import needs_postgresql

    needs_postgresql()
