"""IPP fixtures: a developer's infrastructure with an application, a customer's Trial
infrastructure to deploy it on, and permissions in any state, all made through services."""

import pytest

from ipp import services
from ipp.choices import PermissionState
from ipp.models import Application
from licensing.models import Infrastructure
from tests.factories import (
    TODAY,
    OpportunityFactory,
    partner_ready_for_licenses,
    provision_license,
)


@pytest.fixture(autouse=True)
def _noon_on_today(noon_on_today):
    """Services, the API and the admin judge every rule on "today": every IPP test runs at
    noon on the factories' TODAY."""


@pytest.fixture
def source(partner):
    """The developer's (Lisbon's) registered on-premises infrastructure."""
    return Infrastructure.objects.create(
        name="IL-1 Lisbon Low-Code Lda",
        owner_partner=partner,
        hosting="on_premises",
        registration_id="LISBON-ONPREM-01",
        registered_on=TODAY,
    )


@pytest.fixture
def app(source):
    return Application.objects.create(name="Claims Portal", developed_in=source)


@pytest.fixture
def other_app(source):
    return Application.objects.create(name="Field Inspection App", developed_in=source)


@pytest.fixture
def developer_contact(partner):
    return partner.contacts.get(role="technical")


@pytest.fixture
def customer_partner(apac):
    return partner_ready_for_licenses(region=apac, name="Tokyo Rapid KK", country="JP")


@pytest.fixture
def make_trial(customer_partner, architect, licensing_user, release):
    """An active Trial license provisioned on TODAY (ends TODAY + 30) on a new cloud
    infrastructure, through the licensing services."""

    def make(prospect="Kyoto Insurance", partner=None):
        opportunity = OpportunityFactory(
            partner=partner or customer_partner,
            solution_architect=architect,
            prospect_name=prospect,
        )
        return provision_license(
            partner or customer_partner,
            kind="TL",
            opportunity=opportunity,
            requested_by=architect,
            licensing_user=licensing_user,
        )

    return make


@pytest.fixture
def trial(make_trial):
    return make_trial()


@pytest.fixture
def target(trial):
    return trial.infrastructure


@pytest.fixture
def make_permission(channel_manager, licensing_user, developer_contact, source, app):
    """A permission from `source` to a target, brought to `state` through the services."""

    def make(
        target,
        state=PermissionState.GRANTED,
        *,
        applications=None,
        consent=True,
        valid_until=None,
        on=TODAY,
    ):
        permission = services.request_permission(
            applications=applications or [app],
            source=source,
            target=target,
            by=channel_manager,
            on=on,
        )
        if consent:
            services.record_consent(
                permission, contact=developer_contact, by=channel_manager, on=on
            )
        if state == PermissionState.REFUSED:
            services.refuse(permission, by=licensing_user, reason="not this customer", on=on)
        elif state in (PermissionState.GRANTED, PermissionState.REVOKED):
            services.grant(permission, by=licensing_user, valid_until=valid_until, on=on)
            if state == PermissionState.REVOKED:
                services.revoke(permission, by=licensing_user, reason="consent withdrawn", on=on)
        return permission

    return make
