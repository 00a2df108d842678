"""The license lifecycle services: who may act, every eligibility rule, every transition."""

import threading
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from licensing import services
from licensing.choices import LicenseState
from licensing.models import License, LicensePolicy
from partners import roles
from tests.factories import (
    TODAY,
    ContactFactory,
    IncidentFactory,
    OpportunityFactory,
    PartnerFactory,
    ReleaseFactory,
    TermFactory,
    UserFactory,
    partner_ready_for_licenses,
)
from tests.helpers import needs_postgresql, refused

pytestmark = pytest.mark.django_db


def request(partner, by, kind="DL", **kwargs):
    return services.request_license(partner=partner, kind=kind, by=by, on=TODAY, **kwargs)


# --- who may ask -------------------------------------------------------------------------


def test_channel_manager_requests_a_demo_license_for_a_partner_of_the_region(
    partner, channel_manager
):
    lic = request(partner, channel_manager)
    assert lic.state == LicenseState.REQUESTED
    assert (lic.policy.kind, lic.hosting, lic.licensee_name) == ("DL", "shared_cloud", partner.name)
    record = lic.history.get()
    assert (record.history_user, record.history_change_reason) == (channel_manager, "requested")


def test_channel_manager_of_another_region_is_refused(partner):
    stranger = UserFactory(roles=[roles.CHANNEL_MANAGER])
    refused(lambda: request(partner, stranger), "Only a channel manager of EMEA South")
    assert not License.objects.exists()


def test_auditor_and_architect_cannot_request_demo_licenses(partner, auditor, architect):
    for user in (auditor, architect):
        refused(lambda user=user: request(partner, user), "Only a channel manager")
    assert not License.objects.exists()


def test_unknown_kind_is_refused(partner, licensing_user):
    refused(lambda: request(partner, licensing_user, "XL"), "Unknown license kind XL")


# --- Demo license eligibility ------------------------------------------------------------


def test_first_demo_license_needs_no_authorization_yet(channel_manager, region):
    # "requested once the partnership agreement is signed and confirmed"
    partner = PartnerFactory(region=region, sales_authorized_on=None)
    TermFactory(partner=partner, fee_confirmed_on=None)
    assert request(partner, channel_manager).state == LicenseState.REQUESTED


@pytest.mark.parametrize(
    "term_kwargs",
    [
        {"signed_on": None},
        {"revoked_on": TODAY - timedelta(days=1), "revoked_by": "vendor"},
        {"starts_on": TODAY - timedelta(days=400), "ends_on": TODAY - timedelta(days=40)},
    ],
    ids=["unsigned", "revoked", "no-current-term"],
)
def test_demo_license_needs_a_signed_unrevoked_current_term(channel_manager, region, term_kwargs):
    partner = PartnerFactory(region=region)
    TermFactory(partner=partner, **term_kwargs)
    refused(lambda: request(partner, channel_manager), "needs a signed, unrevoked partnership term")


def test_demo_license_refused_while_a_compliance_incident_is_open(partner, channel_manager):
    IncidentFactory(partner=partner, kind="resale")
    refused(
        lambda: request(partner, channel_manager), "unresolved compliance incident (License resale)"
    )


def test_one_cloud_and_one_on_premises_demo_license_per_partner(
    partner, channel_manager, licensing_user
):
    cloud = request(partner, channel_manager)
    refused(lambda: request(partner, channel_manager), "already has a cloud Demo license")
    on_prem = request(partner, channel_manager, hosting="on_premises")
    refused(
        lambda: request(partner, channel_manager, hosting="on_premises"),
        "already has a on-premises Demo license",
    )
    # Expired licenses still count; refused and cancelled ones leave room.
    services.refuse(cloud, by=licensing_user, reason="duplicate", on=TODAY)
    assert request(partner, channel_manager).state == LicenseState.REQUESTED
    services.cancel(on_prem, by=licensing_user, reason="not needed", on=TODAY)
    assert request(partner, channel_manager, hosting="on_premises")


def test_expired_demo_license_still_blocks_a_new_one(
    partner, channel_manager, provisioned, release
):
    lic = provisioned(partner)
    License.objects.filter(pk=lic.pk).update(state=LicenseState.EXPIRED)
    refused(lambda: request(partner, channel_manager), "already has a cloud Demo license")


def test_demo_license_cannot_be_hosted_on_dedicated_cloud(partner, channel_manager):
    refused(
        lambda: request(partner, channel_manager, hosting="dedicated_cloud"),
        "cannot be hosted dedicated cloud",
    )


def test_former_and_prospective_partners_get_no_demo_license(channel_manager, region):
    for status, fragment in (("former", "former partner"), ("prospective", "prospective partner")):
        partner = partner_ready_for_licenses(region=region, status=status)
        refused(lambda partner=partner: request(partner, channel_manager), fragment)


# --- Internal license eligibility --------------------------------------------------------


def test_internal_license_for_a_renewed_partner_in_good_standing(partner, channel_manager):
    lic = request(partner, channel_manager, "IL")
    assert (lic.policy.kind, lic.hosting) == ("IL", "on_premises")


def test_internal_license_needs_good_standing_and_names_what_fails(channel_manager, region):
    partner = partner_ready_for_licenses(region=region, sales_authorized_on=None)
    text = refused(
        lambda: request(partner, channel_manager, "IL"), "needs a partner in good standing"
    )
    assert "neither Sales nor Delivery authorized" in text


def test_internal_license_needs_a_renewed_contract(channel_manager, region):
    partner = PartnerFactory(region=region)
    TermFactory(partner=partner)  # first year: no earlier term
    refused(lambda: request(partner, channel_manager, "IL"), "needs a renewed contract")


def test_internal_license_only_on_premises(partner, channel_manager):
    refused(
        lambda: request(partner, channel_manager, "IL", hosting="shared_cloud"),
        "cannot be hosted shared cloud",
    )


def test_second_internal_license_is_refused(partner, channel_manager):
    request(partner, channel_manager, "IL")
    refused(lambda: request(partner, channel_manager, "IL"), "already has an Internal license")


# --- Trial license eligibility -----------------------------------------------------------


def test_architect_requests_a_trial_for_an_approved_opportunity_in_the_prospects_name(
    partner, architect
):
    opportunity = OpportunityFactory(
        partner=partner, solution_architect=architect, prospect_name="Atlantic Insurance"
    )
    lic = request(partner, architect, "TL", opportunity=opportunity)
    assert (lic.licensee_name, lic.hosting, lic.opportunity) == (
        "Atlantic Insurance",
        "dedicated_cloud",
        opportunity,
    )


def test_trial_needs_the_opportunity_approved(partner, architect):
    opportunity = OpportunityFactory(
        partner=partner, solution_architect=architect, status="accepted"
    )
    refused(
        lambda: request(partner, architect, "TL", opportunity=opportunity),
        "is accepted; it must be approved",
    )


def test_only_the_assigned_architect_requests_a_trial(partner, architect, channel_manager):
    opportunity = OpportunityFactory(partner=partner, solution_architect=architect)
    other = UserFactory(roles=[roles.SOLUTION_ARCHITECT])
    for user in (other, channel_manager):
        refused(
            lambda user=user: request(partner, user, "TL", opportunity=opportunity),
            services.NOT_OPPORTUNITYS_ARCHITECT,
        )


def test_trial_needs_an_opportunity_of_the_same_partner(partner, licensing_user):
    refused(lambda: request(partner, licensing_user, "TL"), services.TL_NEEDS_OPPORTUNITY)
    foreign = OpportunityFactory()
    refused(lambda: request(partner, licensing_user, "TL", opportunity=foreign), "belongs to")


def test_one_trial_per_opportunity(partner, architect):
    opportunity = OpportunityFactory(partner=partner, solution_architect=architect)
    request(partner, architect, "TL", opportunity=opportunity)
    refused(
        lambda: request(partner, architect, "TL", opportunity=opportunity), "already has a Trial"
    )


def test_prospective_partner_gets_its_own_trial_from_the_licensing_team(
    licensing_user, region, channel_manager
):
    partner = partner_ready_for_licenses(region=region, status="prospective")
    lic = request(partner, licensing_user, "TL")
    assert lic.licensee_name == partner.name
    refused(lambda: request(partner, channel_manager, "TL"), "issued by the licensing team")


# --- names on one line -------------------------------------------------------------------


def test_a_partner_name_with_a_line_break_is_refused_for_a_license(channel_manager, region):
    # Made by the factory, past the admin's validation: as data from before the rule was.
    partner = partner_ready_for_licenses(region=region, name="A\nB")
    refused(
        lambda: request(partner, channel_manager),
        services.NAME_WITH_LINE_BREAK.format(what="partner's", page="partner"),
    )
    assert not License.objects.exists()


def test_a_prospect_name_with_a_line_break_is_refused_for_a_trial(partner, architect):
    opportunity = OpportunityFactory(
        partner=partner, solution_architect=architect, prospect_name="Atlantic\u2028Insurance"
    )
    refused(
        lambda: request(partner, architect, "TL", opportunity=opportunity),
        services.NAME_WITH_LINE_BREAK.format(what="prospect's", page="opportunity"),
    )
    assert not License.objects.exists()


# --- approval ----------------------------------------------------------------------------


def test_approval_sets_the_deadline_three_business_days_later_skipping_holidays(
    partner, channel_manager, licensing_user
):
    lic = request(partner, channel_manager)
    friday = date(2026, 12, 4)  # Monday 7, (Tuesday 8 is a Portuguese holiday), 9, 10
    services.approve(lic, by=licensing_user, on=friday)
    assert lic.state == LicenseState.APPROVED
    assert lic.provisioning_due_on == date(2026, 12, 10)
    assert lic.approved_by == licensing_user and lic.decided_on == friday
    record = lic.history.latest()
    assert (record.history_user, record.history_change_reason) == (licensing_user, "approved")


def test_only_the_licensing_team_approves(partner, channel_manager, auditor):
    lic = request(partner, channel_manager)
    for user in (channel_manager, auditor):
        refused(
            lambda user=user: services.approve(lic, by=user, on=TODAY), "Only the licensing team"
        )
    lic.refresh_from_db()
    assert lic.state == LicenseState.REQUESTED


def test_eligibility_is_checked_again_at_approval(partner, channel_manager, licensing_user):
    lic = request(partner, channel_manager)
    IncidentFactory(partner=partner, opened_on=TODAY)
    refused(
        lambda: services.approve(lic, by=licensing_user, on=TODAY), "unresolved compliance incident"
    )
    lic.refresh_from_db()
    assert lic.state == LicenseState.REQUESTED


@pytest.mark.parametrize("first", ["approve", "refuse"])
def test_a_decided_request_cannot_be_decided_again(partner, channel_manager, licensing_user, first):
    lic = request(partner, channel_manager)
    if first == "approve":
        services.approve(lic, by=licensing_user, on=TODAY)
    else:
        services.refuse(lic, by=licensing_user, reason="no", on=TODAY)
    state = lic.state
    refused(lambda: services.approve(lic, by=licensing_user, on=TODAY), "only when requested")
    refused(
        lambda: services.refuse(lic, by=licensing_user, reason="x", on=TODAY),
        "only when requested",
    )
    lic.refresh_from_db()
    assert lic.state == state


def test_refusal_needs_a_reason_and_keeps_it(partner, channel_manager, licensing_user):
    lic = request(partner, channel_manager)
    refused(lambda: services.refuse(lic, by=licensing_user, reason="  ", on=TODAY), "Give a reason")
    services.refuse(lic, by=licensing_user, reason="Agreement under legal review", on=TODAY)
    lic.refresh_from_db()
    assert (lic.state, lic.state_reason) == (LicenseState.REFUSED, "Agreement under legal review")
    assert lic.history.latest().history_change_reason == "refused: Agreement under legal review"


# --- provisioning ------------------------------------------------------------------------


def test_provisioning_a_cloud_demo_license(partner, provisioned, release):
    ReleaseFactory(version="11.31.0", released_on=TODAY - timedelta(days=2), is_stable=False)
    lic = provisioned(partner)
    assert lic.state == LicenseState.ACTIVE
    assert (lic.starts_on, lic.ends_on) == (TODAY, partner.renewal_date(TODAY))
    assert lic.original_ends_on == lic.ends_on
    assert lic.limits == {
        "max_application_objects": 2400,
        "max_disk_gb": 7,
        "internal_users": 100,
        "external_users": None,
    }
    infra = lic.infrastructure
    assert infra.platform_release == release  # latest *stable*, not the preview
    assert infra.registration_id.startswith("CLD-") and infra.lifetime_url.startswith("https://")
    environments = {e.name: e.endpoint_url for e in infra.environments.all()}
    assert list(environments) == ["Development", "Production", "LifeTime"]
    assert all(url.startswith("https://") for url in environments.values())
    assert environments["LifeTime"] == infra.lifetime_url


def test_provisioning_an_internal_license_on_premises(partner, provisioned):
    lic = provisioned(partner, kind="IL")
    infra = lic.infrastructure
    assert infra.registration_id == "" and infra.platform_release is None
    assert [e.name for e in infra.environments.all()] == ["Development", "Quality", "Production"]
    assert lic.environment_names == "Development,Quality,Production"


def test_trial_runs_thirty_days_from_provisioning(partner, architect, licensing_user, release):
    opportunity = OpportunityFactory(partner=partner, solution_architect=architect)
    lic = request(partner, architect, "TL", opportunity=opportunity)
    services.approve(lic, by=licensing_user, on=TODAY)
    services.provision(lic, by=licensing_user, on=TODAY)
    assert lic.ends_on == TODAY + timedelta(days=30)
    assert lic.limits["external_users"] == 10000


def test_editing_the_policy_later_never_changes_a_live_license(partner, provisioned, release):
    lic = provisioned(partner)
    LicensePolicy.objects.filter(kind="DL").update(
        max_application_objects=9999, environments="A,B,C"
    )
    lic.refresh_from_db()
    assert lic.limits["max_application_objects"] == 2400
    assert lic.environment_names == "Development,Production"


def test_activation_code_is_random_typable_and_never_in_history(partner, provisioned, release):
    lic = provisioned(partner)
    assert len(lic.activation_code) == 19 and lic.activation_code.count("-") == 3
    other = provisioned(partner, hosting="on_premises")
    assert other.activation_code != lic.activation_code
    history_fields = {f.name for f in lic.history.model._meta.fields}
    assert "activation_code" not in history_fields
    assert lic.masked_activation_code.endswith(lic.activation_code[-4:])
    assert lic.activation_code[:4] not in lic.masked_activation_code


def test_provisioning_needs_an_approved_license(partner, channel_manager, licensing_user):
    lic = request(partner, channel_manager)
    refused(lambda: services.provision(lic, by=licensing_user, on=TODAY), "only when approved")
    lic.refresh_from_db()
    assert lic.state == LicenseState.REQUESTED and lic.infrastructure is None


def test_provisioning_needs_both_contacts(channel_manager, licensing_user, region, release):
    partner = PartnerFactory(region=region)
    TermFactory(partner=partner)
    ContactFactory(partner=partner, role="financial")
    lic = request(partner, channel_manager)
    services.approve(lic, by=licensing_user, on=TODAY)
    refused(
        lambda: services.provision(lic, by=licensing_user, on=TODAY), "has no technical contact"
    )
    lic.refresh_from_db()
    assert lic.state == LicenseState.APPROVED


def test_cloud_provisioning_needs_a_stable_release(partner, channel_manager, licensing_user):
    lic = request(partner, channel_manager)
    services.approve(lic, by=licensing_user, on=TODAY)
    refused(lambda: services.provision(lic, by=licensing_user, on=TODAY), "stable platform release")
    assert not lic.__class__.objects.filter(infrastructure__isnull=False).exists()


# --- cancel and convert ------------------------------------------------------------------


def test_licensing_team_cancels_any_live_license_with_a_reason(
    partner, provisioned, channel_manager, licensing_user, release
):
    lic = provisioned(partner)
    refused(
        lambda: services.cancel(lic, by=channel_manager, reason="x", on=TODAY),
        "Only the licensing team",
    )
    refused(lambda: services.cancel(lic, by=licensing_user, reason="", on=TODAY), "Give a reason")
    services.cancel(lic, by=licensing_user, reason="Partnership ended", on=TODAY)
    assert (lic.state, lic.cancelled_on) == (LicenseState.CANCELLED, TODAY)
    refused(
        lambda: services.cancel(lic, by=licensing_user, reason="again", on=TODAY),
        "This license is cancelled",
    )


def test_won_trial_converts_after_the_architects_validation(
    partner, architect, licensing_user, release
):
    opportunity = OpportunityFactory(partner=partner, solution_architect=architect)
    lic = request(partner, architect, "TL", opportunity=opportunity)
    services.approve(lic, by=licensing_user, on=TODAY)
    services.provision(lic, by=licensing_user, on=TODAY)
    refused(lambda: services.convert(lic, by=architect, on=TODAY), "converts when the deal is won")
    opportunity.status, opportunity.closed_on = "won", TODAY
    opportunity.save()
    refused(
        lambda: services.convert(lic, by=licensing_user, on=TODAY), "Only the solution architect"
    )
    services.convert(lic, by=architect, on=TODAY)
    assert (lic.state, lic.converted_on, lic.conversion_validated_by) == (
        LicenseState.CONVERTED,
        TODAY,
        architect,
    )


# --- races (PostgreSQL row locks) --------------------------------------------------------


def run_together(*calls):
    """Run the calls in threads released at the same moment; return (results, errors)."""
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def worker(call):
        try:
            barrier.wait()
            results.append(call())
        except ValidationError as error:
            errors.append(error)
        except Exception as error:  # reported by the assertion below, not lost in a thread
            errors.append(error)
            raise
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_approvals_of_one_request_exactly_one_wins(region):
    needs_postgresql()
    manager = UserFactory(username="cm", roles=[roles.CHANNEL_MANAGER])
    region.channel_managers.add(manager)
    team = [UserFactory(username=f"lt{i}", roles=[roles.LICENSING_TEAM]) for i in range(2)]
    lic = request(partner_ready_for_licenses(region=region), manager)
    results, errors = run_together(
        *(
            lambda user=user: services.approve(License.objects.get(pk=lic.pk), by=user, on=TODAY)
            for user in team
        )
    )
    assert len(results) == 1 and len(errors) == 1
    assert "it can be approved only when requested" in errors[0].messages[0]
    assert lic.history.filter(history_change_reason="approved").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_requests_cannot_give_a_partner_two_cloud_demo_licenses(region):
    needs_postgresql()
    manager = UserFactory(username="cm", roles=[roles.CHANNEL_MANAGER])
    region.channel_managers.add(manager)
    partner = partner_ready_for_licenses(region=region)
    results, errors = run_together(
        lambda: request(partner, manager), lambda: request(partner, manager)
    )
    assert len(results) == 1 and len(errors) == 1, errors
    assert License.objects.filter(partner=partner).count() == 1
