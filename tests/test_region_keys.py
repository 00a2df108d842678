"""The rows a channel manager lists carry their partner's region, kept in step with the
owner: she finds them by her regions (partners.scoping) whatever moved."""

import pytest
from django.urls import reverse

from ipp.models import Application, DeploymentPermission
from licensing.models import Extension, Infrastructure, License, Notification
from partners import roles
from partners.models import ComplianceIncident, Contact, Opportunity, PartnershipTerm, Region
from tests.factories import RegionFactory, UserFactory
from tests.security.world import build

pytestmark = pytest.mark.django_db
KEYED = (
    License,
    Extension,
    Infrastructure,
    Application,
    DeploymentPermission,
    Contact,
    PartnershipTerm,
    Opportunity,
    ComplianceIncident,
    Notification,
)


def regions_of(model) -> set[str]:
    return set(model.objects.values_list("region__code", flat=True))


def assert_keys_follow_owners():
    """Every keyed row's region is its owner partner's (NULL for an infrastructure without one)."""
    for lic in License.objects.select_related("partner"):
        assert lic.region_id == lic.partner.region_id
    for ext in Extension.objects.select_related("license"):
        assert ext.region_id == ext.license.region_id
    for infra in Infrastructure.objects.select_related("owner_partner"):
        assert infra.region_id == (infra.owner_partner.region_id if infra.owner_partner else None)
    for app in Application.objects.select_related("developed_in"):
        assert app.region_id == app.developed_in.region_id
    for permission in DeploymentPermission.objects.select_related("source"):
        assert permission.region_id == permission.source.region_id
    for model in (Contact, PartnershipTerm, Opportunity, ComplianceIncident, Notification):
        for row in model.objects.select_related("partner"):
            assert row.region_id == (row.partner.region_id if row.partner else None), row


@pytest.fixture
def world():
    return build()


def test_rows_made_by_the_services_carry_their_partner_s_region(world):
    for model in KEYED:
        # The licensing team's own mails (no partner) carry none.
        assert regions_of(model) - {None} == {"region-a", "region-b"}, model
    assert_keys_follow_owners()


def test_a_partner_moved_to_another_region_takes_its_rows_along(world, client):
    partner = world.regions["a"]["partner"]
    moved_to = RegionFactory(code="region-c")
    manager = UserFactory(username="cm_c", roles=[roles.CHANNEL_MANAGER])
    moved_to.channel_managers.add(manager)
    partner.region = moved_to
    partner.channel_manager = None
    partner.save()
    assert_keys_follow_owners()
    for model in KEYED:
        assert "region-c" in regions_of(model) and "region-a" not in regions_of(model), model
    # Her lists show them; the former region's channel manager sees none of them.
    client.force_login(manager)
    url = reverse("admin:ipp_application_changelist")
    assert client.get(url).context["cl"].result_count == 1
    client.force_login(Region.objects.get(code="region-a").channel_managers.get())
    assert client.get(url).context["cl"].result_count == 0


def test_an_infrastructure_given_to_another_owner_moves_its_applications(world):
    source = world.regions["a"]["partner"].infrastructures.filter(applications__isnull=False)
    infra = source.get()
    infra.owner_partner = world.regions["b"]["partner"]
    infra.save()
    assert_keys_follow_owners()
    assert Application.objects.get(developed_in=infra).region.code == "region-b"


def test_a_save_of_some_fields_keeps_the_key(world):
    lic = License.objects.filter(region__code="region-a").first()
    lic.licensee_name = "Renamed"
    lic.save(update_fields=["licensee_name"])
    lic.refresh_from_db()
    assert lic.region.code == "region-a"
