"""Deployment permissions as people read them: named by what may go where, decided with a
labelled reason and the admin's own date widget, and a message that says what follows."""

import pytest
from django.contrib.messages import get_messages

from ipp.choices import PermissionState

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("noon_on_today")]


def test_a_permission_is_named_by_its_applications_and_target(make_permission, target):
    permission = make_permission(target, PermissionState.REQUESTED)
    assert str(permission) == f"Claims Portal → {target.registration_id}"


def test_the_grant_uses_the_admin_date_widget_and_says_until_when(
    client, licensing_user, make_permission, target
):
    permission = make_permission(target, PermissionState.REQUESTED)
    client.force_login(licensing_user)
    page = client.get(f"/admin/ipp/deploymentpermission/{permission.pk}/change/").content.decode()

    # One date widget on every page: the admin's calendar, not the browser's mm/dd/yyyy.
    assert 'class="vDateField"' in page and 'type="date"' not in page
    assert "DateTimeShortcuts.js" in page
    assert "Why is this request refused?" in page

    response = client.post(
        f"/admin/ipp/deploymentpermission/{permission.pk}/transition/grant/",
        {"valid_until": "2027-03-01"},
        follow=True,
    )
    permission.refresh_from_db()
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"{permission}: granted. Deployable there until 2027-03-01."
    ]
