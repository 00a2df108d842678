"""Partner and opportunity status change only through partners.services, with role checks
and history; the admin shows them read-only with buttons."""

import pytest
from django.core.exceptions import ValidationError

from partners import roles, services
from partners.choices import OpportunityStatus, PartnerStatus
from tests.factories import TODAY, OpportunityFactory, PartnerFactory, RegionFactory, UserFactory


@pytest.fixture
def other_manager(db):
    manager = UserFactory(username="olga", roles=[roles.CHANNEL_MANAGER])
    RegionFactory(code="apac").channel_managers.add(manager)
    return manager


def test_channel_manager_marks_her_partner_former_with_a_reason_kept_in_history(
    partner, channel_manager
):
    services.set_partner_status(
        partner, status=PartnerStatus.FORMER, by=channel_manager, reason="did not renew"
    )
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.FORMER
    latest = partner.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        channel_manager,
        "former: did not renew",
    )


def test_marking_former_needs_a_reason(partner, channel_manager):
    with pytest.raises(ValidationError) as error:
        services.set_partner_status(partner, status=PartnerStatus.FORMER, by=channel_manager)
    assert services.STATUS_REASON_REQUIRED in error.value.messages
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE


def test_another_regions_channel_manager_cannot_change_the_status(partner, other_manager):
    with pytest.raises(ValidationError) as error:
        services.set_partner_status(
            partner, status=PartnerStatus.FORMER, by=other_manager, reason="x"
        )
    assert "Only a channel manager of" in " ".join(error.value.messages)
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE


def test_a_prospective_partner_cannot_become_former(region, licensing_user):
    prospect = PartnerFactory(region=region, status=PartnerStatus.PROSPECTIVE)
    with pytest.raises(ValidationError) as error:
        services.set_partner_status(
            prospect, status=PartnerStatus.FORMER, by=licensing_user, reason="x"
        )
    assert "cannot become former" in " ".join(error.value.messages)
    services.set_partner_status(prospect, status=PartnerStatus.ACTIVE, by=licensing_user)
    prospect.refresh_from_db()
    assert prospect.status == PartnerStatus.ACTIVE


def test_opportunity_moves_stage_by_stage_and_closes_on_the_day(partner, channel_manager):
    opportunity = OpportunityFactory(partner=partner, status=OpportunityStatus.REGISTERED)
    with pytest.raises(ValidationError):  # no skipping straight to won
        services.set_opportunity_status(
            opportunity, status=OpportunityStatus.WON, by=channel_manager, on=TODAY
        )
    for status in (OpportunityStatus.ACCEPTED, OpportunityStatus.APPROVED, OpportunityStatus.WON):
        services.set_opportunity_status(opportunity, status=status, by=channel_manager, on=TODAY)
    opportunity.refresh_from_db()
    assert (opportunity.status, opportunity.closed_on) == (OpportunityStatus.WON, TODAY)
    assert opportunity.history.latest().history_change_reason == "won"
    with pytest.raises(ValidationError):  # closed: it stays won
        services.set_opportunity_status(
            opportunity, status=OpportunityStatus.LOST, by=channel_manager, on=TODAY
        )


def test_status_is_read_only_on_the_admin_pages_and_moves_by_button(
    client, partner, channel_manager
):
    opportunity = OpportunityFactory(partner=partner, status=OpportunityStatus.APPROVED)
    client.force_login(channel_manager)
    page = client.get(f"/admin/partners/opportunity/{opportunity.pk}/change/").content.decode()
    assert 'name="status"' not in page
    assert 'name="transition-win"' in page and 'name="transition-accept"' not in page
    client.post(f"/admin/partners/opportunity/{opportunity.pk}/transition/win/")
    opportunity.refresh_from_db()
    assert opportunity.status == OpportunityStatus.WON

    page = client.get(f"/admin/partners/partner/{partner.pk}/change/").content.decode()
    assert 'name="status"' not in page and 'name="transition-former"' in page


def test_auditor_is_offered_no_status_button(client, partner, auditor):
    client.force_login(auditor)
    page = client.get(f"/admin/partners/partner/{partner.pk}/change/").content.decode()
    assert "transition-former" not in page
    response = client.post(
        f"/admin/partners/partner/{partner.pk}/transition/former/", {"reason": "x"}
    )
    assert response.status_code in (302, 403)
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.ACTIVE
