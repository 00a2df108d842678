"""Odd input in the admin gets a clear answer, never a 500: unknown export parameters
(400), ids that are not ids (Django's "doesn't exist" answer, or 404).
"""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, licensing_user, partner):
    client.force_login(licensing_user)
    return client


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("export", ["export-history/", "export/"])
def test_an_unknown_export_parameter_is_a_400_not_a_500(staff, export, method):
    response = getattr(staff, method)(f"/admin/partners/partner/{export}?foo=bar")
    assert response.status_code == 400
    assert "foo" not in response.content.decode()  # nothing of the request is echoed back


def test_a_history_id_that_is_not_a_number_is_answered_as_the_change_page_answers(staff, partner):
    history = staff.get("/admin/partners/partner/abc/history/")
    change = staff.get("/admin/partners/partner/abc/change/")
    assert (history.status_code, history["Location"]) == (change.status_code, change["Location"])
    assert history.status_code == 302  # to the admin index, "… doesn't exist"
    # A number no row has (even past bigint): the history of a deleted object, of which
    # there is none.
    huge = staff.get("/admin/partners/partner/99999999999999999999999/history/")
    assert huge.status_code == 404


@pytest.mark.parametrize("version", ["abc", "1.5", "999999999", "99999999999999999999999"])
def test_a_history_version_that_is_not_one_is_a_404(staff, partner, version):
    response = staff.get(f"/admin/partners/partner/{partner.pk}/history/{version}/")
    assert response.status_code == 404
