"""The admin as a daily tool: finding a license by its number, the actions each role is
offered, decisions and confirmations on the object's page, lists and their filters,
messages that say what happens next, and request forms that offer only what is valid."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from licensing import services
from licensing.choices import ExtensionReason, ExtensionState, LicenseState
from licensing.models import License
from partners.choices import OpportunityStatus
from partners.services import standing
from tests.factories import (
    TODAY,
    OpportunityFactory,
    PartnerFactory,
    RegionFactory,
    UserFactory,
    partner_ready_for_licenses,
    provision_license,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]

LICENSES = "/admin/licensing/license/"
EXTENSIONS = "/admin/licensing/extension/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def listed(response) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


def actions(client, url) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    form = response.context.get("action_form")
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def transition_url(lic, name) -> str:
    return f"/admin/licensing/license/{lic.pk}/transition/{name}/"


@pytest.fixture
def demo(provisioned, partner, release):
    return provisioned(partner)


# --- Finding a license by its number ----------------------------------------------------------


@pytest.mark.parametrize("term", ["DL-{pk}", "dl-{pk}", "DL {pk}", "#{pk}", " DL-{pk} "])
def test_the_license_list_finds_a_license_by_its_number(client, licensing_user, demo, term):
    other = provision_license(
        partner_ready_for_licenses(region=demo.partner.region, name="Other Partner"),
        requested_by=licensing_user,
        licensing_user=licensing_user,
    )
    client.force_login(licensing_user)

    found = listed(client.get(LICENSES, {"q": term.format(pk=demo.pk)}))

    assert demo.pk in found
    assert other.pk not in found


def test_a_bare_number_finds_the_license_of_that_number(client, licensing_user, demo):
    client.force_login(licensing_user)
    assert demo.pk in listed(client.get(LICENSES, {"q": str(demo.pk)}))


def test_a_number_with_another_kind_finds_nothing(client, licensing_user, demo):
    client.force_login(licensing_user)
    assert listed(client.get(LICENSES, {"q": f"IL-{demo.pk}"})) == []
    assert listed(client.get(LICENSES, {"q": f"TL-{demo.pk}"})) == []


def test_search_by_the_last_four_of_the_activation_code_only(client, licensing_user, demo):
    client.force_login(licensing_user)
    code = demo.activation_code

    assert listed(client.get(LICENSES, {"q": code[-4:].lower()})) == [demo.pk]
    # Never a probe of the secret: the full code, or any other part of it, finds nothing.
    assert listed(client.get(LICENSES, {"q": code})) == []
    assert listed(client.get(LICENSES, {"q": code[:4]})) == []


def test_a_number_outside_the_users_scope_stays_hidden(
    client, licensing_user, channel_manager, release
):
    far = partner_ready_for_licenses(region=RegionFactory(code="apac"), name="Far Away Ltd")
    stranger = provision_license(far, requested_by=licensing_user, licensing_user=licensing_user)
    client.force_login(channel_manager)

    assert listed(client.get(LICENSES, {"q": f"DL-{stranger.pk}"})) == []


def test_license_autocomplete_finds_a_license_by_number(client, licensing_user, expired):
    client.force_login(licensing_user)
    params = {
        "app_label": "licensing",
        "model_name": "extension",
        "field_name": "license",
    }
    for term in (f"DL-{expired.pk}", str(expired.pk)):
        results = client.get("/admin/autocomplete/", {**params, "term": term}).json()["results"]
        assert str(expired.pk) in {r["id"] for r in results}, term


def test_the_extension_list_finds_requests_by_their_license_number(
    client, licensing_user, channel_manager, expired
):
    ext = services.request_extension(
        expired,
        by=channel_manager,
        reason=ExtensionReason.LEGAL_CONSTRAINTS,
        requested_until=expired.ends_on + timedelta(days=30),
    )
    client.force_login(licensing_user)

    assert listed(client.get(EXTENSIONS, {"q": f"dl-{expired.pk}"})) == [ext.pk]
    assert listed(client.get(EXTENSIONS, {"q": f"IL-{expired.pk}"})) == []


# --- What each role is offered ---------------------------------------------------------------

# The list actions of each changelist, per role: a role sees only what it may run.
EXPECTED_ACTIONS = {
    "licensing_user": {
        "licensing/license": {
            "approve_selected",
            "refuse_selected",
            "provision_selected",
            "cancel_selected",
        },
        "licensing/extension": {"grant_selected", "refuse_selected"},
        # Infrastructures are held by licenses and permissions: never deleted.
        "licensing/infrastructure": {"record_upgrade"},
        "licensing/licensepolicy": set(),
        "ipp/deploymentpermission": {"grant_selected", "refuse_selected", "revoke_selected"},
        # A partner becomes former, an opportunity is lost, an incident is resolved.
        "partners/partner": set(),
        "partners/opportunity": set(),
        "partners/complianceincident": {"resolve_selected"},
    },
    "channel_manager": {
        "licensing/license": set(),
        "licensing/extension": set(),
        "licensing/infrastructure": set(),
        "licensing/licensepolicy": set(),
        "ipp/deploymentpermission": set(),
    },
    "architect": {
        "licensing/license": set(),
        "licensing/extension": set(),
        "licensing/infrastructure": set(),
        "licensing/licensepolicy": set(),
    },
    "auditor": {
        "licensing/license": set(),
        "licensing/extension": set(),
        "licensing/infrastructure": set(),
        "licensing/licensepolicy": set(),
        "ipp/deploymentpermission": set(),
        "partners/partner": set(),
        "partners/opportunity": set(),
    },
}


@pytest.mark.parametrize("role", sorted(EXPECTED_ACTIONS))
def test_each_role_is_offered_only_the_list_actions_it_may_run(client, request, role):
    client.force_login(request.getfixturevalue(role))
    for changelist, expected in EXPECTED_ACTIONS[role].items():
        assert actions(client, f"/admin/{changelist}/") == expected, (role, changelist)


@pytest.mark.parametrize("role", ["channel_manager", "architect", "auditor"])
def test_an_action_not_offered_cannot_be_posted(client, request, role, licensing_user, demo):
    infra = demo.infrastructure
    client.force_login(request.getfixturevalue(role))
    client.post(
        "/admin/licensing/infrastructure/",
        {"action": "record_upgrade", "_selected_action": [infra.pk]},
    )
    infra.refresh_from_db()
    assert infra.history.count() == 1  # only its creation: no upgrade was recorded


def test_the_licensing_team_may_not_delete_an_infrastructure(client, licensing_user, demo):
    client.force_login(licensing_user)
    url = f"/admin/licensing/infrastructure/{demo.infrastructure_id}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert (
        'class="deletelink"'
        not in client.get(
            f"/admin/licensing/infrastructure/{demo.infrastructure_id}/change/"
        ).content.decode()
    )


# --- Decisions on the object's page ------------------------------------------------------------


@pytest.fixture
def waiting(channel_manager, expired):
    return services.request_extension(
        expired,
        by=channel_manager,
        reason=ExtensionReason.LEGAL_CONSTRAINTS,
        requested_until=expired.ends_on + timedelta(days=30),
    )


def test_an_extension_is_granted_from_its_page(client, licensing_user, waiting):
    client.force_login(licensing_user)
    page = client.get(f"{EXTENSIONS}{waiting.pk}/change/").content.decode()
    assert 'name="transition-grant"' in page and 'name="transition-refuse"' in page
    assert "Why is this extension refused?" in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page

    response = client.post(f"{EXTENSIONS}{waiting.pk}/transition/grant/", follow=True)

    waiting.refresh_from_db()
    assert waiting.state == ExtensionState.GRANTED
    until = waiting.requested_until
    assert messages_of(response) == [
        f"{waiting}: granted. {waiting.license} now ends on {until:%Y-%m-%d}."
    ]


def test_refuse_and_cancel_ask_different_questions(
    client, licensing_user, channel_manager, partner
):
    lic = services.request_license(partner=partner, kind="DL", by=channel_manager)
    client.force_login(licensing_user)
    page = client.get(f"{LICENSES}{lic.pk}/change/").content.decode()

    assert "Why is this request refused?" in page
    # The cancel button reads as cancelling the license, not the form, and asks on a page.
    assert 'value="Cancel license…"' in page
    assert "Why is this license cancelled?" not in page


def test_a_cancellation_is_confirmed_on_a_page_of_its_own(client, licensing_user, demo):
    client.force_login(licensing_user)

    page = client.post(transition_url(demo, "cancel"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Cancel this license? Its applications go offline" in html
    assert "Why is this license cancelled?" in html
    assert refreshed_state(demo) == LicenseState.ACTIVE  # asking changed nothing

    # Confirmed without a reason: asked again, with the reason's message.
    again = client.post(transition_url(demo, "cancel"), {"confirm": "yes", "reason": " "})
    assert services.REASON_REQUIRED.replace("'", "&#x27;") in again.content.decode()
    assert refreshed_state(demo) == LicenseState.ACTIVE

    response = client.post(
        transition_url(demo, "cancel"),
        {"confirm": "yes", "reason": "partner left the program"},
        follow=True,
    )
    assert refreshed_state(demo) == LicenseState.CANCELLED
    assert messages_of(response)[0].startswith(f"{demo}: cancelled. Its applications go offline")


def test_the_confirmation_page_is_not_shown_to_whoever_may_not_cancel(
    client, channel_manager, demo
):
    client.force_login(channel_manager)
    response = client.post(transition_url(demo, "cancel"), follow=True)
    assert "Cancel this license?" not in response.content.decode()
    assert refreshed_state(demo) == LicenseState.ACTIVE


def test_a_conversion_is_confirmed_on_a_page_then_runs(client, architect, trial):
    trial.opportunity.status = OpportunityStatus.WON
    trial.opportunity.closed_on = TODAY
    trial.opportunity.save()
    client.force_login(architect)

    page = client.post(transition_url(trial, "convert"))
    assert "Validate the conversion?" in page.content.decode()
    assert refreshed_state(trial) == LicenseState.ACTIVE

    response = client.post(transition_url(trial, "convert"), {"confirm": "yes"}, follow=True)
    assert refreshed_state(trial) == LicenseState.CONVERTED
    assert messages_of(response) == [
        f"{trial}: converted. The trial is now the customer's license."
    ]


def refreshed_state(lic) -> str:
    return License.objects.get(pk=lic.pk).state


# --- Messages ------------------------------------------------------------------------------


def test_a_request_says_who_acts_next(client, channel_manager, partner):
    client.force_login(channel_manager)
    response = client.post(
        "/admin/licensing/license/add/",
        {"partner": partner.pk, "kind": "DL", "hosting": "", "opportunity": ""},
        follow=True,
    )
    lic = License.objects.get(partner=partner)
    text = messages_of(response)[0]
    assert text.startswith(f"{lic}: request added successfully.")
    assert "Waiting for the licensing team" in text
    assert "You may edit it again below" not in response.content.decode()


def test_list_action_messages_count_in_words(client, licensing_user, channel_manager, partner):
    one = services.request_license(partner=partner, kind="DL", by=channel_manager)
    client.force_login(licensing_user)
    response = client.post(
        LICENSES, {"action": "approve_selected", "_selected_action": [one.pk]}, follow=True
    )
    assert "1 license approved." in messages_of(response)


def test_a_wrong_state_reads_as_english(licensing_user, demo):
    with pytest.raises(ValidationError) as refusal:
        services.provision(demo, by=licensing_user)
    assert "it can be provisioned only when approved" in refusal.value.messages[0]
    assert " a approved" not in refusal.value.messages[0]


# --- Lists ------------------------------------------------------------------------------------


def test_partner_filters_offer_only_values_in_use_in_scope(client, channel_manager, partner):
    PartnerFactory(region=partner.region, country="DE", name="Berlin Bits")
    PartnerFactory(region=RegionFactory(code="apac"), country="JP", name="Tokyo Rapid")
    client.force_login(channel_manager)

    html = client.get("/admin/partners/partner/").content.decode()

    assert "country=DE" in html and f"country={partner.country.code}" in html
    assert "country=JP" not in html  # another region's partner
    assert "country=FR" not in html  # no partner there at all
    # The channel manager filter names the people assigned, not every user of the desk.
    stranger = UserFactory(username="not-a-manager")
    assert stranger.username not in client.get("/admin/partners/partner/").content.decode()


def test_the_partner_list_shows_the_standing_reasons(client, licensing_user, region):
    lapsed = PartnerFactory(region=region, name="No Term Yet Ltd")
    client.force_login(licensing_user)
    html = client.get("/admin/partners/partner/", {"q": lapsed.name}).content.decode()
    reasons = standing(lapsed, on=TODAY).reasons
    assert reasons and all(
        reason.replace("'", "&#x27;") in html.split('class="standing-reasons"')[1]
        for reason in reasons[:1]
    )


def test_the_license_list_shows_number_state_and_iso_dates(client, licensing_user, demo):
    client.force_login(licensing_user)
    response = client.get(LICENSES)
    columns = response.context["cl"].list_display
    # The state right after the license, so a narrow screen still shows it.
    assert columns.index("state_badge") <= 2
    html = response.content.decode()
    assert f'<span class="license-number">DL-{demo.pk}</span>' in html
    assert f"{demo.ends_on:%Y-%m-%d}" in html


def test_dates_on_pages_are_iso(client, licensing_user, demo):
    client.force_login(licensing_user)
    html = client.get(f"{LICENSES}{demo.pk}/change/").content.decode()
    assert f"{demo.ends_on:%Y-%m-%d}" in html
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\. \d", html)


# --- Forms ------------------------------------------------------------------------------------


def test_an_architects_form_asks_for_a_trial_of_an_approved_opportunity(
    client, architect, partner, release
):
    mine = OpportunityFactory(partner=partner, solution_architect=architect)
    OpportunityFactory(partner=partner, solution_architect=architect, status="registered")
    OpportunityFactory(partner=partner, solution_architect=UserFactory(username="someone"))
    client.force_login(architect)

    form = client.get("/admin/licensing/license/add/").context["adminform"].form

    assert "partner" not in form.fields
    assert form.fields["kind"].initial == "TL"
    assert [c[0] for c in form.fields["kind"].choices] == ["TL"]
    assert list(form.fields["opportunity"].queryset) == [mine]

    response = client.post(
        "/admin/licensing/license/add/", {"opportunity": mine.pk, "kind": "TL", "hosting": ""}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    lic = License.objects.get(opportunity=mine)
    assert (lic.partner, lic.policy.kind) == (partner, "TL")


def test_the_extension_form_offers_the_reasons_and_opportunities_of_that_license(
    client, channel_manager, expired
):
    OpportunityFactory(partner=expired.partner, status="lost", prospect_name="Lost Deal")
    open_one = OpportunityFactory(partner=expired.partner, status="accepted")
    OpportunityFactory(partner=PartnerFactory(region=expired.partner.region), status="accepted")
    client.force_login(channel_manager)

    form = client.get(f"{EXTENSIONS}add/", {"license": expired.pk}).context["adminform"].form

    reasons = {c[0] for c in form.fields["reason"].choices if c[0]}
    assert reasons == {ExtensionReason.OPEN_SALES_CYCLE, ExtensionReason.LEGAL_CONSTRAINTS}
    assert list(form.fields["opportunity"].queryset) == [open_one]


def test_a_trials_extension_form_offers_the_trial_reason_only(client, architect, trial):
    client.force_login(architect)
    form = client.get(f"{EXTENSIONS}add/", {"license": trial.pk}).context["adminform"].form
    assert [c[0] for c in form.fields["reason"].choices if c[0]] == [
        ExtensionReason.TRIAL_SALES_CYCLE
    ]
    assert form.fields["reason"].initial == ExtensionReason.TRIAL_SALES_CYCLE


def test_the_standing_card_says_how_many_it_leaves_out(client, licensing_user, region):
    for n in range(7):
        PartnerFactory(region=region, name=f"Lapsed Partner {n}")  # no term: not in standing
    client.force_login(licensing_user)
    html = client.get("/admin/").content.decode()
    assert "and 2 more" in html


def test_an_expired_license_page_links_to_its_extension_request(client, channel_manager, expired):
    client.force_login(channel_manager)
    page = client.get(f"{LICENSES}{expired.pk}/change/").content.decode()
    assert f'href="/admin/licensing/extension/add/?license={expired.pk}"' in page


def test_an_empty_cell_reads_as_the_desks_dash_not_a_hyphen(client, licensing_user, demo):
    client.force_login(licensing_user)
    page = client.get("/admin/licensing/infrastructure/").content.decode()
    cells = re.findall(r'<td class="field-[^"]*">([^<]*)</td>', page)
    assert "—" in cells and "-" not in cells
