"""Messages that end with a name ending in a full stop ("Seattle Apps Co.") keep one."""

import pytest

from licensing import services
from partners.roles import CHANNEL_MANAGER
from partners.services import set_partner_status
from partners.text import sentence
from tests.factories import PartnerFactory, UserFactory
from tests.helpers import refused

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("… for Seattle Apps Co..", "… for Seattle Apps Co."),
        ("… for Lisbon Lda.", "… for Lisbon Lda."),
        ("Wait...", "Wait..."),
    ],
)
def test_one_full_stop_after_a_name_that_has_one(text, expected):
    assert sentence(text) == expected


def test_a_refused_request_names_the_partner_with_one_full_stop():
    partner = PartnerFactory(name="Seattle Apps Co.")
    outsider = UserFactory(roles=[CHANNEL_MANAGER])
    text = refused(
        lambda: services.request_license(partner=partner, kind="DL", by=outsider),
        "may ask for a license for Seattle Apps Co.",
    )
    assert "Co.." not in text


def test_a_refused_status_change_names_the_partner_with_one_full_stop():
    partner = PartnerFactory(name="Seattle Apps Co.")
    outsider = UserFactory(roles=[CHANNEL_MANAGER])
    text = refused(
        lambda: set_partner_status(partner, status="former", by=outsider),
        "licensing team may change",
    )
    assert "Co.." not in text
