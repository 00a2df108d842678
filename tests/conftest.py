import pytest

from partners import roles
from tests.factories import PartnerFactory, TermFactory, UserFactory


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
