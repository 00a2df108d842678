"""The IPP admin: the licensing team's queue, transitions, tokens shown once, lists, scope."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ipp import services
from ipp.choices import CheckStatus, PermissionState
from ipp.models import Application, DeploymentCheck, DeploymentPermission, InfrastructureToken
from licensing.models import Infrastructure
from partners import roles
from tests.factories import TODAY, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/ipp/deploymentpermission/"
ADD = "/admin/ipp/deploymentpermission/add/"
TOKENS = "/admin/ipp/infrastructuretoken/"
CHECKS = "/admin/ipp/deploymentcheck/"
APPLICATIONS = "/admin/ipp/application/"


def change_url(permission) -> str:
    return f"/admin/ipp/deploymentpermission/{permission.pk}/change/"


def transition_url(permission, name) -> str:
    return f"/admin/ipp/deploymentpermission/{permission.pk}/transition/{name}/"


def overview_url(infrastructure) -> str:
    return f"/admin/ipp/application/infrastructure/{infrastructure.pk}/"


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def state_of(permission) -> str:
    return DeploymentPermission.objects.get(pk=permission.pk).state


def new_app(source, name):
    return Application.objects.create(name=name, developed_in=source)


# --- The queue ---------------------------------------------------------------------------


def test_queue_lists_requests_with_consent_first_then_waiting_then_decided(
    client, licensing_user, make_permission, target, source
):
    refused = make_permission(target, PermissionState.REFUSED, applications=[new_app(source, "A")])
    granted = make_permission(target, applications=[new_app(source, "B")])
    waiting = make_permission(
        target, PermissionState.REQUESTED, consent=False, applications=[new_app(source, "C")]
    )
    ready = make_permission(target, PermissionState.REQUESTED, applications=[new_app(source, "D")])
    client.force_login(licensing_user)

    html = client.get(CHANGELIST).content.decode()

    positions = [html.index(change_url(p)) for p in (ready, waiting, granted, refused)]
    assert positions == sorted(positions)
    assert "no consent yet" in html


def test_channel_manager_sees_only_permissions_of_their_regions_developers(
    client, channel_manager, make_permission, target
):
    permission = make_permission(target, PermissionState.REQUESTED)
    stranger = UserFactory(roles=[roles.CHANNEL_MANAGER])

    client.force_login(channel_manager)
    assert change_url(permission) in client.get(CHANGELIST).content.decode()
    client.force_login(stranger)
    assert change_url(permission) not in client.get(CHANGELIST).content.decode()
    assert client.get(change_url(permission)).status_code == 302  # "does not exist" redirect


# --- Asking, consent and decisions on the change page ------------------------------------


def test_channel_manager_asks_for_a_permission_through_the_service(
    client, channel_manager, app, source, target
):
    client.force_login(channel_manager)

    response = client.post(
        ADD,
        {
            "source": source.pk,
            "applications": [app.pk],
            "target_registration_id": target.registration_id.lower(),
        },
    )

    assert response.status_code == 302, response.content.decode()
    permission = DeploymentPermission.objects.get()
    assert (permission.source, permission.target, permission.state) == (
        source,
        target,
        PermissionState.REQUESTED,
    )
    assert list(permission.applications.all()) == [app]
    first = permission.history.earliest("history_id")
    assert (first.history_user, first.history_change_reason) == (channel_manager, "requested")


def test_add_form_shows_the_services_refusals(client, channel_manager, partner, source, target):
    other = Infrastructure.objects.create(
        name="DL-2 Lisbon", owner_partner=partner, hosting="shared_cloud", registration_id="CLD-L2"
    )
    foreign = Application.objects.create(name="Demo Kit", developed_in=other)
    client.force_login(channel_manager)

    response = client.post(
        ADD,
        {"source": source.pk, "applications": [foreign.pk], "target_registration_id": "NOPE"},
    )
    assert response.status_code == 200
    assert "No infrastructure is registered with the id NOPE" in response.content.decode()

    response = client.post(
        ADD,
        {
            "source": source.pk,
            "applications": [foreign.pk],
            "target_registration_id": target.registration_id,
        },
    )
    assert response.status_code == 200
    assert "is not developed on IL-1 Lisbon" in response.content.decode()
    assert not DeploymentPermission.objects.exists()


def test_consent_then_grant_buttons(
    client, channel_manager, licensing_user, make_permission, target, developer_contact
):
    permission = make_permission(target, PermissionState.REQUESTED, consent=False)
    client.force_login(channel_manager)
    page = client.get(change_url(permission)).content.decode()
    assert "transition-consent" in page and "transition-grant" not in page

    client.post(transition_url(permission, "consent"), {"contact": developer_contact.pk})
    permission.refresh_from_db()
    assert permission.consent_by == developer_contact

    client.force_login(licensing_user)
    page = client.get(change_url(permission)).content.decode()
    assert "transition-grant" in page and "transition-refuse" in page
    response = client.post(
        transition_url(permission, "grant"), {"valid_until": "2027-03-01"}, follow=True
    )
    permission.refresh_from_db()
    assert (permission.state, str(permission.valid_until)) == ("granted", "2027-03-01")
    assert f"{permission}: granted. Deployable there until 2027-03-01." in message_texts(response)
    assert "transition-revoke" in client.get(change_url(permission)).content.decode()


def test_channel_manager_cannot_grant_through_the_transition_url(
    client, channel_manager, make_permission, target
):
    permission = make_permission(target, PermissionState.REQUESTED)
    client.force_login(channel_manager)

    response = client.post(transition_url(permission, "grant"), follow=True)

    assert state_of(permission) == PermissionState.REQUESTED
    assert "Only the licensing team may grant a deployment permission." in message_texts(response)


def test_auditor_cannot_use_the_transition_url(client, auditor, make_permission, target):
    permission = make_permission(target, PermissionState.REQUESTED)
    client.force_login(auditor)
    assert client.post(transition_url(permission, "grant")).status_code == 403
    assert state_of(permission) == PermissionState.REQUESTED


def test_transition_url_answers_only_post(client, licensing_user, make_permission, target):
    permission = make_permission(target, PermissionState.REQUESTED)
    client.force_login(licensing_user)
    assert client.get(transition_url(permission, "grant")).status_code == 405


@pytest.mark.parametrize("name", ["refuse", "revoke"])
def test_refuse_and_revoke_buttons_need_a_reason_kept_in_history(
    client, licensing_user, make_permission, target, name
):
    state = PermissionState.GRANTED if name == "revoke" else PermissionState.REQUESTED
    permission = make_permission(target, state)
    client.force_login(licensing_user)

    response = client.post(transition_url(permission, name), {"reason": " "}, follow=True)
    assert state_of(permission) == state
    assert message_texts(response) == ["This field is required."]

    client.post(transition_url(permission, name), {"reason": "customer left the program"})
    permission.refresh_from_db()
    assert permission.state == ("revoked" if name == "revoke" else "refused")
    last = permission.history.latest("history_id")
    assert (last.history_user, last.history_change_reason) == (
        licensing_user,
        f"{name}d: customer left the program",
    )


def test_posting_the_change_form_changes_nothing(client, licensing_user, make_permission, target):
    permission = make_permission(target, PermissionState.REQUESTED)
    before = permission.history.count()
    client.force_login(licensing_user)
    client.raise_request_exception = False

    response = client.post(
        change_url(permission), {"state": "granted", "reason": "by hand", "_save": "Save"}
    )

    assert response.status_code in (200, 302, 403)
    permission.refresh_from_db()
    assert (permission.state, permission.reason) == (PermissionState.REQUESTED, "")
    assert permission.history.count() == before


def test_history_page_names_who_did_what(client, auditor, make_permission, target):
    permission = make_permission(target, PermissionState.REVOKED)
    client.force_login(auditor)

    html = client.get(f"{CHANGELIST}{permission.pk}/history/").content.decode()

    for reason in ("requested", "consent of", "granted", "revoked: consent withdrawn"):
        assert reason in html


def test_a_permission_cannot_be_deleted(client, licensing_user, make_permission, target):
    permission = make_permission(target, PermissionState.REQUESTED)
    client.force_login(licensing_user)
    assert client.post(f"{CHANGELIST}{permission.pk}/delete/", {"post": "yes"}).status_code == 403
    assert DeploymentPermission.objects.filter(pk=permission.pk).exists()


# --- Actions -----------------------------------------------------------------------------


def test_grant_action_asks_for_a_validity_then_grants_each(
    client, licensing_user, make_permission, target, source
):
    ready = make_permission(target, PermissionState.REQUESTED)
    no_consent = make_permission(
        target, PermissionState.REQUESTED, consent=False, applications=[new_app(source, "B")]
    )
    client.force_login(licensing_user)
    selected = {"action": "grant_selected", "_selected_action": [ready.pk, no_consent.pk]}

    page = client.post(CHANGELIST, selected)
    assert page.status_code == 200
    assert "valid_until" in page.content.decode()
    assert state_of(ready) == PermissionState.REQUESTED

    response = client.post(
        CHANGELIST, {**selected, "confirm": "yes", "valid_until": "2027-01-31"}, follow=True
    )

    ready.refresh_from_db()
    assert (ready.state, str(ready.valid_until)) == ("granted", "2027-01-31")
    assert state_of(no_consent) == PermissionState.REQUESTED
    texts = message_texts(response)
    assert any("Record the developer's consent" in t for t in texts)
    assert "1 permission granted." in texts


@pytest.mark.parametrize(
    ("action", "state", "result"),
    [
        ("refuse_selected", PermissionState.REQUESTED, PermissionState.REFUSED),
        ("revoke_selected", PermissionState.GRANTED, PermissionState.REVOKED),
    ],
)
def test_refuse_and_revoke_actions_ask_for_a_reason(
    client, licensing_user, make_permission, target, action, state, result
):
    permission = make_permission(target, state)
    client.force_login(licensing_user)
    selected = {"action": action, "_selected_action": [permission.pk]}

    page = client.post(CHANGELIST, selected)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    client.post(CHANGELIST, {**selected, "confirm": "yes", "reason": ""})
    assert state_of(permission) == state

    client.post(CHANGELIST, {**selected, "confirm": "yes", "reason": "budget closed"})
    permission.refresh_from_db()
    assert (permission.state, permission.reason) == (result, "budget closed")


def test_decision_actions_are_offered_to_the_licensing_team_only(
    client, channel_manager, licensing_user
):
    client.force_login(channel_manager)
    assert "grant_selected" not in client.get(CHANGELIST).content.decode()
    client.force_login(licensing_user)
    assert "grant_selected" in client.get(CHANGELIST).content.decode()


# --- Tokens ------------------------------------------------------------------------------


def pages_after(client, target) -> str:
    record = InfrastructureToken.objects.active().get()
    pages = []
    for url in (
        TOKENS,
        f"{TOKENS}{record.pk}/change/",
        f"{TOKENS}{record.pk}/history/",
        overview_url(target),
        CHECKS,
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return "".join(pages)


def test_token_issued_in_the_admin_is_shown_once(client, licensing_user, target):
    client.force_login(licensing_user)

    response = client.post(f"{TOKENS}add/", {"infrastructure": target.pk})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    token = html.split('<code class="api-token" style="font-size:15px">')[1].split("<")[0]
    assert services.authenticate_token(token).infrastructure == target
    assert not message_texts(response)
    later = pages_after(client, target)
    assert token[:8] in later  # the prefix identifies it
    assert token not in later


def test_token_issued_from_the_overview_replaces_the_previous_one(client, licensing_user, target):
    client.force_login(licensing_user)
    old = services.issue_token(target, by=licensing_user)

    response = client.post(f"{TOKENS}issue/{target.pk}/")

    html = response.content.decode()
    token = html.split('<code class="api-token" style="font-size:15px">')[1].split("<")[0]
    assert token != old
    assert services.authenticate_token(old) is None
    assert services.authenticate_token(token) is not None
    assert token not in pages_after(client, target)


def test_channel_manager_cannot_issue_tokens(client, channel_manager, target):
    client.force_login(channel_manager)
    assert client.post(f"{TOKENS}add/", {"infrastructure": target.pk}).status_code == 403
    client.post(f"{TOKENS}issue/{target.pk}/")
    assert not InfrastructureToken.objects.exists()


def test_token_for_an_unregistered_infrastructure_is_refused_on_the_form(
    client, licensing_user, partner
):
    unregistered = Infrastructure.objects.create(
        name="IL-7", owner_partner=partner, hosting="on_premises"
    )
    client.force_login(licensing_user)
    response = client.post(f"{TOKENS}add/", {"infrastructure": unregistered.pk})
    assert response.status_code == 200
    assert not InfrastructureToken.objects.exists()


# --- The overview and the check log ------------------------------------------------------


def test_overview_shows_applications_permissions_and_recent_checks(
    client, licensing_user, make_permission, app, source, target
):
    permission = make_permission(target)
    services.check_and_log(application=app, target=target, caller="service")
    client.force_login(licensing_user)

    source_page = client.get(overview_url(source)).content.decode()
    target_page = client.get(overview_url(target)).content.decode()

    assert str(app.key) in source_page and change_url(permission) in source_page
    assert change_url(permission) in target_page
    assert 'id="ipp-checks"' in target_page and "Allowed by deployment permission" in target_page


def test_admin_check_on_the_overview_is_logged_with_the_admin_user(
    client, licensing_user, app, target
):
    client.force_login(licensing_user)

    response = client.post(
        f"{overview_url(target)}check/", {"application_key": str(app.key)}, follow=True
    )

    check = DeploymentCheck.objects.get()
    assert (check.caller, check.application, check.target, check.allowed) == (
        "admin:lena",
        app,
        target,
        False,
    )
    assert any("No deployment permission" in t for t in message_texts(response))


def test_channel_manager_sees_no_check_log(client, channel_manager, source):
    client.force_login(channel_manager)
    assert client.get(CHECKS).status_code == 403
    page = client.get(overview_url(source))
    assert page.status_code == 200
    assert 'id="ipp-checks"' not in page.content.decode()


def test_check_log_is_read_only(client, licensing_user, app, target):
    check = services.record_check(
        services.Decision(False, "x"), application=app, target=target, caller="service"
    )
    client.force_login(licensing_user)
    assert client.get(CHECKS).status_code == 200
    assert client.get(f"{CHECKS}add/").status_code == 403
    assert client.post(f"{CHECKS}{check.pk}/change/", {"allowed": "on"}).status_code == 403
    assert client.post(f"{CHECKS}{check.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{CHECKS}{check.pk}/change/").status_code == 200  # view only


def test_application_search_finds_a_key(client, licensing_user, app, other_app):
    client.force_login(licensing_user)
    html = client.get(APPLICATIONS, {"q": str(app.key)[:13]}).content.decode()
    assert "Claims Portal" in html and "Field Inspection App" not in html


# --- Query counts ------------------------------------------------------------------------


def make_permissions(n, source, make_permission, target):
    """n permissions cycling through every state, each with two applications."""
    states = [
        PermissionState.REQUESTED,
        PermissionState.GRANTED,
        PermissionState.REFUSED,
        PermissionState.REVOKED,
    ]
    start = DeploymentPermission.objects.count()
    for i in range(start, start + n):
        apps = [new_app(source, f"App {i}a"), new_app(source, f"App {i}b")]
        state = states[i % 4]
        consent = state != PermissionState.REQUESTED or i % 8 == 0
        permission = make_permission(target, state, applications=apps, consent=consent)
        services.check_and_log(application=apps[0], target=target, caller="service")
        assert permission.pk


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", [CHANGELIST, CHECKS, APPLICATIONS, TOKENS])
def test_changelist_query_count_does_not_grow_with_rows(
    client, licensing_user, channel_manager, source, make_permission, target, url
):
    make_permissions(3, source, make_permission, target)
    services.issue_token(target, by=licensing_user)
    counts = {}
    for user in (licensing_user, channel_manager):
        if url in (CHECKS, TOKENS) and user is channel_manager:
            continue
        client.force_login(user)
        counts[user.username] = queries(client, url)
    make_permissions(17, source, make_permission, target)
    for _ in range(17):
        services.issue_token(target, by=licensing_user)
    assert DeploymentPermission.objects.count() == 20
    for user in (licensing_user, channel_manager):
        if user.username in counts:
            client.force_login(user)
            large = queries(client, url)
            assert counts[user.username] == large, f"{url} as {user}: {counts} vs {large}"
    assert large <= 15


def test_overview_query_count_does_not_grow_with_rows(
    client, licensing_user, source, make_permission, target
):
    client.force_login(licensing_user)
    make_permissions(3, source, make_permission, target)
    small = queries(client, overview_url(source)), queries(client, overview_url(target))
    make_permissions(12, source, make_permission, target)
    large = queries(client, overview_url(source)), queries(client, overview_url(target))
    assert small == large


def test_requested_on_is_today_for_the_admin(client, channel_manager, app, source, target):
    client.force_login(channel_manager)
    client.post(
        ADD,
        {
            "source": source.pk,
            "applications": [app.pk],
            "target_registration_id": target.registration_id,
        },
    )
    assert DeploymentPermission.objects.get().requested_on == TODAY


def test_check_log_filters_by_the_status_answered_without_reading_every_check(
    client, licensing_user, app, target
):
    """The filter offers the statuses a check can carry, named, and keeps the checks of the
    one picked; it never reads the whole log for the values in it (SELECT DISTINCT)."""
    for status in (CheckStatus.ANSWERED, CheckStatus.UNKNOWN_APPLICATION):
        services.record_check(
            services.Decision(status == CheckStatus.ANSWERED, "x"),
            application=app,
            target=target,
            caller="api token #1",
            status_code=status,
        )
    client.force_login(licensing_user)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(CHECKS)
    assert not [q for q in queries.captured_queries if "DISTINCT" in q["sql"]]
    html = page.content.decode()
    assert "404 unknown application" in html and "429 over the rate limit" in html
    shown = client.get(CHECKS, {"status_code__exact": CheckStatus.UNKNOWN_APPLICATION})
    assert [c.status_code for c in shown.context["cl"].result_list] == [404]
