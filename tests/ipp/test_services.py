"""IPP services: every branch of the deployment decision, who may do what, API tokens."""

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ipp import services
from ipp.choices import PermissionState
from ipp.models import (
    Application,
    DeploymentCheck,
    DeploymentPermission,
    InfrastructureToken,
)
from licensing import services as licensing
from licensing.choices import LicenseState
from licensing.models import Infrastructure, License
from partners import roles
from tests.factories import TODAY, UserFactory, partner_ready_for_licenses, provision_license
from tests.helpers import refused

pytestmark = pytest.mark.django_db


def decide(app, target, on=TODAY):
    return services.check_deployment(application=app, target=target, on=on)


def snapshot(permission):
    """What a refused action must leave as it was: the row and its history."""
    permission = DeploymentPermission.objects.get(pk=permission.pk)
    return (
        permission.state,
        permission.consent_by_id,
        permission.valid_until,
        permission.reason,
        permission.history.count(),
    )


# --- The decision ------------------------------------------------------------------------


def test_own_infrastructure_is_allowed_without_permission_or_license(app, source):
    decision = decide(app, source)
    assert decision.allowed
    assert "LISBON-ONPREM-01" in decision.reason and "any of its environments" in decision.reason


def test_no_permission_is_denied(app, target):
    decision = decide(app, target)
    assert not decision.allowed
    assert decision.reason.startswith(f"No deployment permission for {app.name} to")


def test_granted_permission_with_consent_and_an_active_trial_is_allowed(
    app, target, make_permission
):
    permission = make_permission(target, valid_until=TODAY + timedelta(days=10))
    decision = decide(app, target)
    assert decision.allowed, decision.reason
    assert f"permission #{permission.pk}" in decision.reason
    # The answer goes to the target's runtime: it never names the developer's
    # infrastructure or the contact who consented.
    assert app.developed_in.name not in decision.reason
    assert permission.consent_by.name not in decision.reason
    assert "valid until 2026-12-08" in decision.reason


def test_only_requested_without_consent_names_both_missing_pieces(app, target, make_permission):
    make_permission(target, PermissionState.REQUESTED, consent=False)
    decision = decide(app, target)
    assert not decision.allowed
    assert "not granted yet" in decision.reason
    assert "consent is not recorded" in decision.reason


def test_requested_with_consent_is_not_granted_yet(app, target, make_permission):
    make_permission(target, PermissionState.REQUESTED)
    decision = decide(app, target)
    assert not decision.allowed
    assert "not granted yet" in decision.reason
    assert "consent" not in decision.reason


def test_granted_permission_without_consent_is_denied(app, target, make_permission):
    # grant() refuses without consent; a consent removed afterwards must still deny.
    permission = make_permission(target)
    permission.consent_by, permission.consent_at = None, None
    permission.save(update_fields=["consent_by", "consent_at"])
    decision = decide(app, target)
    assert not decision.allowed
    assert "no consent of the developer recorded" in decision.reason


def test_refused_permission_is_denied_with_its_reason(app, target, make_permission):
    make_permission(target, PermissionState.REFUSED)
    decision = decide(app, target)
    assert not decision.allowed
    assert "was refused: not this customer" in decision.reason


def test_revoked_permission_is_denied(app, target, make_permission):
    make_permission(target, PermissionState.REVOKED)
    decision = decide(app, target)
    assert not decision.allowed
    assert "was revoked: consent withdrawn" in decision.reason


def test_permission_past_its_valid_until_is_denied(app, target, make_permission):
    make_permission(target, valid_until=TODAY + timedelta(days=5))
    assert decide(app, target, on=TODAY + timedelta(days=5)).allowed  # the last valid day
    decision = decide(app, target, on=TODAY + timedelta(days=6))
    assert not decision.allowed
    assert "expired on 2026-12-04 (it was valid until 2026-12-03)" in decision.reason


def test_application_not_covered_by_the_permission_is_denied(
    app, other_app, target, make_permission
):
    permission = make_permission(target, applications=[app])
    decision = decide(other_app, target)
    assert not decision.allowed
    assert f"(#{permission.pk}) do not cover Field Inspection App" in decision.reason


def test_granted_permission_wins_over_a_newer_pending_one(app, other_app, target, make_permission):
    make_permission(target, applications=[app])
    make_permission(target, PermissionState.REQUESTED, applications=[other_app])
    assert decide(app, target).allowed
    assert "not granted yet" in decide(other_app, target).reason


def test_converted_trial_target_is_allowed(
    app, trial, target, make_permission, customer_partner, architect
):
    make_permission(target)
    opportunity = trial.opportunity
    opportunity.status, opportunity.closed_on = "won", TODAY
    opportunity.save()
    licensing.convert(trial, by=architect, on=TODAY)
    # Long after the trial's own end: the customer license has no Trial end date.
    decision = decide(app, target, on=TODAY + timedelta(days=200))
    assert decision.allowed, decision.reason
    assert "converted to a customer license" in decision.reason


def test_target_without_any_trial_license_is_denied(app, partner, make_permission, source):
    demo_target = Infrastructure.objects.create(
        name="DL-9 Someone",
        owner_partner=partner,
        hosting="shared_cloud",
        registration_id="CLD-DEMO0001",
    )
    make_permission(demo_target)
    decision = decide(app, demo_target)
    assert not decision.allowed
    assert "holds no active Trial license and no customer license" in decision.reason


def test_trial_past_its_end_is_denied_before_the_nightly_run(app, trial, target, make_permission):
    make_permission(target)
    assert trial.ends_on == TODAY + timedelta(days=30)
    assert decide(app, target, on=trial.ends_on).allowed
    decision = decide(app, target, on=trial.ends_on + timedelta(days=1))
    # The state is still active: no nightly job ran, and yet the trial is over.
    assert License.objects.get(pk=trial.pk).state == LicenseState.ACTIVE
    assert not decision.allowed
    assert f"the Trial license TL-{trial.pk} expired on 2026-12-29" in decision.reason


def test_expired_trial_is_denied_with_its_expiry_date(app, trial, target, make_permission):
    make_permission(target)
    License.objects.filter(pk=trial.pk).update(
        state=LicenseState.EXPIRED, expired_on=TODAY + timedelta(days=31)
    )
    decision = decide(app, target, on=TODAY + timedelta(days=35))
    assert not decision.allowed
    assert f"TL-{trial.pk} expired on 2026-12-29" in decision.reason


def test_cancelled_trial_is_denied(app, trial, target, make_permission, licensing_user):
    make_permission(target)
    licensing.cancel(trial, by=licensing_user, reason="prospect went silent", on=TODAY)
    decision = decide(app, target)
    assert not decision.allowed
    assert f"the Trial license TL-{trial.pk} was cancelled on 2026-11-28" in decision.reason


def test_check_deployment_writes_nothing_and_check_and_log_writes_one_row(app, target):
    decide(app, target)
    assert not DeploymentCheck.objects.exists()

    decision = services.check_and_log(
        application=app, target=target, caller="service", client_ip="10.0.0.1"
    )

    check = DeploymentCheck.objects.get()
    assert (check.application, check.target, check.allowed, check.reason) == (
        app,
        target,
        decision.allowed,
        decision.reason,
    )
    assert (check.application_key, check.target_registration_id) == (
        str(app.key),
        target.registration_id,
    )
    assert (check.caller, check.client_ip) == ("service", "10.0.0.1")


# --- Requesting a permission -------------------------------------------------------------


def test_channel_manager_of_the_developers_region_requests_a_permission(
    app, source, target, channel_manager
):
    permission = services.request_permission(
        applications=[app], source=source, target=target, by=channel_manager, on=TODAY
    )
    assert (permission.state, permission.requested_by, permission.requested_on) == (
        PermissionState.REQUESTED,
        channel_manager,
        TODAY,
    )
    assert list(permission.applications.all()) == [app]
    records = list(permission.history.order_by("history_id"))
    assert {r.history_user for r in records} == {channel_manager}
    assert records[0].history_change_reason == "requested"
    assert records[-1].history_change_reason == "requested: Claims Portal"


def test_licensing_team_may_request_for_any_partner(app, source, target, licensing_user):
    permission = services.request_permission(
        applications=[app], source=source, target=target, by=licensing_user
    )
    assert permission.state == PermissionState.REQUESTED


@pytest.mark.parametrize("who", ["stranger", "auditor", "architect"])
def test_others_cannot_request_a_permission(app, source, target, auditor, architect, who):
    user = {
        "stranger": UserFactory(roles=[roles.CHANNEL_MANAGER]),
        "auditor": auditor,
        "architect": architect,
    }[who]
    refused(
        lambda: services.request_permission(
            applications=[app], source=source, target=target, by=user
        ),
        "Only a channel manager of EMEA South",
    )
    assert not DeploymentPermission.objects.exists()


def test_request_needs_applications_of_the_source_another_target_and_no_open_request(
    app, source, target, channel_manager, licensing_user
):
    foreign = Application.objects.create(name="Elsewhere", developed_in=target)

    def ask(applications, to=target):
        return services.request_permission(
            applications=applications, source=source, target=to, by=channel_manager
        )

    refused(lambda: ask([]), "Choose at least one application")
    refused(lambda: ask([app, foreign]), "Elsewhere is not developed on IL-1 Lisbon")
    refused(lambda: ask([app], to=source), "The target is the source infrastructure")
    assert not DeploymentPermission.objects.exists()
    first = ask([app])
    refused(lambda: ask([app]), f"permission #{first.pk} from IL-1 Lisbon")
    # Once decided, a new request may be made.
    services.refuse(first, by=licensing_user, reason="no")
    assert ask([app]).state == PermissionState.REQUESTED


def test_source_and_target_are_different_in_the_database(app, source, channel_manager):
    with pytest.raises(IntegrityError), transaction.atomic():
        DeploymentPermission.objects.create(
            source=source, target=source, requested_by=channel_manager, requested_on=TODAY
        )


# --- Consent -----------------------------------------------------------------------------


def test_channel_manager_records_the_developers_consent(
    make_permission, target, developer_contact, channel_manager
):
    permission = make_permission(target, PermissionState.REQUESTED, consent=False)
    services.record_consent(permission, contact=developer_contact, by=channel_manager)
    permission.refresh_from_db()
    assert (permission.consent_by, permission.consent_recorded_by) == (
        developer_contact,
        channel_manager,
    )
    assert permission.consent_at.date() == TODAY
    last = permission.history.latest("history_id")
    assert (last.history_user, last.history_change_reason) == (
        channel_manager,
        f"consent of {developer_contact.name} recorded",
    )


def test_consent_must_come_from_a_contact_of_the_developer(
    make_permission, target, customer_partner, channel_manager
):
    permission = make_permission(target, PermissionState.REQUESTED, consent=False)
    before = snapshot(permission)
    customer_contact = customer_partner.contacts.get(role="technical")
    refused(
        lambda: services.record_consent(permission, contact=customer_contact, by=channel_manager),
        "is not a contact of Lisbon Low-Code Lda",
    )
    assert snapshot(permission) == before


def test_model_clean_checks_the_consenting_contact(make_permission, target, customer_partner):
    permission = make_permission(target, PermissionState.REQUESTED, consent=False)
    permission.consent_by = customer_partner.contacts.get(role="technical")
    with pytest.raises(ValidationError) as error:
        permission.full_clean()
    assert "consent_by" in error.value.message_dict


@pytest.mark.parametrize("who", ["stranger", "auditor"])
def test_others_cannot_record_consent(make_permission, target, developer_contact, auditor, who):
    user = UserFactory(roles=[roles.CHANNEL_MANAGER]) if who == "stranger" else auditor
    permission = make_permission(target, PermissionState.REQUESTED, consent=False)
    before = snapshot(permission)
    refused(
        lambda: services.record_consent(permission, contact=developer_contact, by=user),
        "Only a channel manager of EMEA South",
    )
    assert snapshot(permission) == before


def test_consent_only_once_and_only_while_requested(
    make_permission, target, developer_contact, channel_manager, partner
):
    permission = make_permission(target, PermissionState.REQUESTED)
    other = partner.contacts.get(role="financial")
    refused(
        lambda: services.record_consent(permission, contact=other, by=channel_manager),
        "already recorded",
    )
    granted = make_permission(
        target, applications=[Application.objects.create(name="B", developed_in=permission.source)]
    )
    refused(
        lambda: services.record_consent(granted, contact=developer_contact, by=channel_manager),
        "This deployment permission is granted",
    )


# --- Decisions by the licensing team ------------------------------------------------------


def test_licensing_team_grants_with_a_validity(make_permission, target, licensing_user):
    permission = make_permission(target, PermissionState.REQUESTED)
    services.grant(permission, by=licensing_user, valid_until=TODAY + timedelta(days=60))
    permission.refresh_from_db()
    assert (permission.state, permission.decided_by, permission.valid_until) == (
        PermissionState.GRANTED,
        licensing_user,
        TODAY + timedelta(days=60),
    )
    last = permission.history.latest("history_id")
    assert (last.history_user, last.history_change_reason) == (
        licensing_user,
        "granted until 2027-01-27",
    )


@pytest.mark.parametrize("action", ["grant", "refuse", "revoke"])
@pytest.mark.parametrize("who", ["channel_manager", "auditor", "architect"])
def test_only_the_licensing_team_decides(
    make_permission, target, request, action, who, licensing_user
):
    user = request.getfixturevalue(who)
    state = PermissionState.GRANTED if action == "revoke" else PermissionState.REQUESTED
    permission = make_permission(target, state)
    before = snapshot(permission)
    call = {
        "grant": lambda: services.grant(permission, by=user),
        "refuse": lambda: services.refuse(permission, by=user, reason="no"),
        "revoke": lambda: services.revoke(permission, by=user, reason="no"),
    }[action]
    refused(call, "Only the licensing team may")
    assert snapshot(permission) == before


def test_grant_needs_consent_and_a_future_validity(make_permission, target, licensing_user):
    permission = make_permission(target, PermissionState.REQUESTED, consent=False)
    before = snapshot(permission)
    refused(lambda: services.grant(permission, by=licensing_user), "Record the developer's consent")
    assert snapshot(permission) == before

    with_consent = make_permission(
        target,
        PermissionState.REQUESTED,
        applications=[Application.objects.create(name="B", developed_in=permission.source)],
    )
    refused(
        lambda: services.grant(
            with_consent, by=licensing_user, valid_until=TODAY - timedelta(days=1)
        ),
        "cannot be before today",
    )
    assert DeploymentPermission.objects.get(pk=with_consent.pk).state == PermissionState.REQUESTED


def test_refuse_needs_a_reason_and_a_requested_permission(make_permission, target, licensing_user):
    permission = make_permission(target, PermissionState.REQUESTED)
    before = snapshot(permission)
    refused(lambda: services.refuse(permission, by=licensing_user, reason="  "), "Give a reason")
    assert snapshot(permission) == before
    services.refuse(permission, by=licensing_user, reason="customer not in the program")
    permission.refresh_from_db()
    assert (permission.state, permission.reason) == (
        PermissionState.REFUSED,
        "customer not in the program",
    )
    assert permission.history.latest("history_id").history_change_reason == (
        "refused: customer not in the program"
    )
    refused(lambda: services.grant(permission, by=licensing_user), "This deployment permission is")


def test_revoke_only_a_granted_permission_with_a_reason(make_permission, target, licensing_user):
    requested = make_permission(target, PermissionState.REQUESTED)
    refused(
        lambda: services.revoke(requested, by=licensing_user, reason="x"),
        "only a granted one can be revoked",
    )
    services.refuse(requested, by=licensing_user, reason="no")
    granted = make_permission(target)
    refused(lambda: services.revoke(granted, by=licensing_user, reason=""), "Give a reason")
    services.revoke(granted, by=licensing_user, reason="consent withdrawn")
    granted.refresh_from_db()
    assert (granted.state, granted.revoked_by, granted.reason) == (
        PermissionState.REVOKED,
        licensing_user,
        "consent withdrawn",
    )


# --- API tokens --------------------------------------------------------------------------


def test_issue_token_stores_only_its_hash_and_never_in_history(target, licensing_user):
    token = services.issue_token(target, by=licensing_user)

    record = InfrastructureToken.objects.get()
    assert len(token) >= 40
    assert record.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert record.key_prefix == token[:8]
    assert (record.infrastructure, record.created_by, record.revoked_at) == (
        target,
        licensing_user,
        None,
    )
    stored = [str(v) for v in InfrastructureToken.objects.values().get().values()]
    assert token not in stored
    history = [str(v) for row in record.history.values() for v in row.values()]
    assert "key_hash" not in record.history.model._meta.fields_map
    assert not any(token in v or record.key_hash in v for v in history)
    assert services.authenticate_token(token) == record


def test_issuing_a_new_token_revokes_the_previous_one(target, licensing_user):
    first = services.issue_token(target, by=licensing_user)
    second = services.issue_token(target, by=licensing_user)

    assert first != second
    assert services.authenticate_token(first) is None
    assert services.authenticate_token(second).infrastructure == target
    old = InfrastructureToken.objects.get(key_prefix=first[:8])
    assert old.revoked_at is not None and old.revoked_by == licensing_user
    assert old.history.latest("history_id").history_change_reason == (
        "revoked: a new token was issued"
    )
    assert InfrastructureToken.objects.active().count() == 1


@pytest.mark.parametrize("who", ["channel_manager", "auditor", "architect"])
def test_only_the_licensing_team_issues_tokens(target, request, who):
    user = request.getfixturevalue(who)
    refused(lambda: services.issue_token(target, by=user), "Only the licensing team may")
    assert not InfrastructureToken.objects.exists()


def test_token_needs_a_registered_infrastructure(partner, licensing_user):
    unregistered = Infrastructure.objects.create(
        name="IL-7 not yet", owner_partner=partner, hosting="on_premises"
    )
    refused(lambda: services.issue_token(unregistered, by=licensing_user), "no registration id")


def test_revoked_token_stops_working(target, licensing_user, channel_manager):
    token = services.issue_token(target, by=licensing_user)
    record = InfrastructureToken.objects.get()
    refused(lambda: services.revoke_token(record, by=channel_manager), "Only the licensing team")
    services.revoke_token(record, by=licensing_user)
    assert services.authenticate_token(token) is None
    refused(lambda: services.revoke_token(record, by=licensing_user), "already revoked")


def test_unknown_and_empty_tokens_authenticate_nobody(target, licensing_user):
    services.issue_token(target, by=licensing_user)
    assert services.authenticate_token("") is None
    assert services.authenticate_token("not-a-token") is None


def test_trial_of_a_prospective_partner_counts_as_a_trial(
    app, make_permission, licensing_user, apac, release
):
    # A prospective partner's own Trial (no opportunity) is a live TL all the same.
    prospective = partner_ready_for_licenses(region=apac, status="prospective", name="Osaka")
    lic = provision_license(
        prospective, kind="TL", requested_by=licensing_user, licensing_user=licensing_user
    )
    make_permission(lic.infrastructure)
    assert decide(app, lic.infrastructure).allowed
