"""The mail preview on the license page: the real templates, never the activation code."""

from html import unescape

import pytest

from licensing import services
from licensing.choices import NotificationKind
from licensing.models import Notification
from licensing.notifications import context_for, render_mail
from partners import roles
from tests.factories import TODAY, RegionFactory, UserFactory, partner_ready_for_licenses

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]


def preview_url(lic, kind) -> str:
    return f"/admin/licensing/license/{lic.pk}/preview/{kind}/"


@pytest.fixture
def cloud(partner, provisioned, release):
    return provisioned(partner)


@pytest.fixture
def on_premises(partner, provisioned, release):
    return provisioned(partner, hosting="on_premises")


def page(client, lic, kind) -> str:
    response = client.get(preview_url(lic, kind))
    assert response.status_code == 200, response
    assert "no-store" in response["Cache-Control"]
    return response.content.decode()


def test_the_cloud_onboarding_preview_shows_subject_text_and_html_of_the_real_template(
    client, cloud, licensing_user
):
    client.force_login(licensing_user)

    html = page(client, cloud, "onboarding")

    development = cloud.infrastructure.environments.get(name="Development").endpoint_url
    assert "Your Demo License is ready: Lisbon Low-Code Lda" in html  # the subject template
    assert "is provisioned on our cloud" in html  # onboarding_cloud.txt
    assert development in html
    assert "cfo" in html and "cto" in html  # both contacts as recipients
    # The HTML part, escaped into a sandboxed iframe: no script runs, no same-origin access.
    assert '<iframe id="mail-html"' in html and 'sandbox=""' in html
    assert "&lt;strong&gt;Demo License&lt;/strong&gt;" in html


def test_the_on_premises_onboarding_preview_uses_its_own_template(
    client, on_premises, licensing_user, settings
):
    client.force_login(licensing_user)

    html = page(client, on_premises, "onboarding")

    assert "Register your infrastructure: Demo License for Lisbon Low-Code Lda" in html
    assert f"{settings.SITE_URL}/portal/" in html  # the licensing portal link
    assert "is provisioned on our cloud" not in html


@pytest.mark.parametrize("kind", ["onboarding", "reminder"])
@pytest.mark.parametrize("which", ["cloud", "on_premises"])
def test_the_activation_code_never_appears_in_a_preview(
    client, request, licensing_user, kind, which
):
    lic = request.getfixturevalue(which)
    client.force_login(licensing_user)

    html = page(client, lic, kind)

    assert lic.activation_code not in html
    assert lic.activation_code not in unescape(html)
    if kind == "onboarding":
        assert lic.masked_activation_code in unescape(html)  # in the text and the HTML


def test_the_real_mail_holds_the_code_the_preview_masks(cloud):
    # The masking is the preview's doing: the mail that is sent carries the code.
    notification = Notification(
        kind=NotificationKind.ONBOARDING,
        license=cloud,
        recipient=cloud.partner.contacts.first().email,
        template="onboarding_cloud",
    )
    _, text, _ = render_mail(notification.template, context_for(notification))
    assert cloud.activation_code in text


def test_the_reminder_preview_uses_the_policys_smallest_offset(client, cloud, licensing_user):
    client.force_login(licensing_user)

    html = unescape(page(client, cloud, "reminder"))

    # Demo reminders go out 60, 30 and 7 days before the end: the preview shows the 7-day one.
    assert f"ends on {cloud.ends_on:%Y-%m-%d} (7 days)" in html
    assert "in 7 days or less" in html
    assert "renew automatically" in html  # reminder.txt, Demo and Internal branch
    for email in cloud.partner.contacts.values_list("email", flat=True):
        assert email in html  # both contacts receive it


def test_the_license_page_links_to_both_previews(client, cloud, licensing_user):
    client.force_login(licensing_user)

    html = client.get(f"/admin/licensing/license/{cloud.pk}/change/").content.decode()

    assert f'href="{preview_url(cloud, "onboarding")}">Preview onboarding mail' in html
    assert f'href="{preview_url(cloud, "reminder")}">Preview reminder mail' in html


def test_a_requested_license_previews_without_dates_or_code(
    client, partner, channel_manager, licensing_user
):
    lic = services.request_license(partner=partner, kind="DL", by=channel_manager, on=TODAY)
    client.force_login(channel_manager)

    html = unescape(page(client, lic, "onboarding"))

    assert "Not provisioned yet" in html
    assert "••••-••••-••••-••••" in html


def test_the_channel_manager_of_the_region_may_preview(client, cloud, channel_manager):
    client.force_login(channel_manager)

    assert client.get(preview_url(cloud, "onboarding")).status_code == 200


def test_a_channel_manager_of_another_region_gets_404(client, cloud):
    apac = RegionFactory(code="apac", name="Asia Pacific")
    stranger = UserFactory(username="priya", roles=[roles.CHANNEL_MANAGER])
    apac.channel_managers.add(stranger)
    partner_ready_for_licenses(region=apac, name="Tokyo Rapid KK", country="JP")
    client.force_login(stranger)

    assert client.get(preview_url(cloud, "onboarding")).status_code == 404
    assert client.get(preview_url(cloud, "reminder")).status_code == 404


def test_staff_without_license_permission_is_refused(client, cloud):
    clerk = UserFactory(username="clerk")
    client.force_login(clerk)

    assert client.get(preview_url(cloud, "onboarding")).status_code == 403


def test_anonymous_users_are_sent_to_the_login(client, cloud):
    response = client.get(preview_url(cloud, "onboarding"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_unknown_mail_is_404(client, cloud, licensing_user):
    client.force_login(licensing_user)

    assert client.get(preview_url(cloud, "invoice")).status_code == 404


def test_the_reissued_code_preview_masks_the_new_code(client, on_premises, licensing_user):
    code = services.reissue_activation_code(on_premises, by=licensing_user, reason="code lost")
    on_premises.refresh_from_db()
    client.force_login(licensing_user)

    html = unescape(page(client, on_premises, "code_reissued"))

    assert code not in html
    assert on_premises.masked_activation_code in html
    assert "cto" in html and "cfo" not in html  # the technical contact only
    assert "masked here" in html


def test_the_reissued_code_preview_before_any_reissue_says_so(client, on_premises, licensing_user):
    client.force_login(licensing_user)

    html = unescape(page(client, on_premises, "code_reissued"))

    assert on_premises.activation_code not in html
    assert "never reissued" in html
