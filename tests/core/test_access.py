import pytest
from django.test import Client

from tsunagari.core.roles import CAPABILITIES, Capability, Role

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get("/contacts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/contacts/")


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ADMIN, 200),
        (Role.MARKETING, 200),
        (Role.INSIDE_SALES, 403),
        (Role.FIELD_SALES, 403),
        (Role.READ_ONLY, 403),
    ],
)
def test_only_admins_and_marketing_define_custom_fields(make_user, role, status):
    client = Client()
    client.force_login(make_user(role))
    assert client.get("/settings/fields/new/").status_code == status


def test_read_only_users_can_look_but_not_edit(reader_client):
    assert reader_client.get("/contacts/").status_code == 200
    assert reader_client.get("/contacts/new/").status_code == 403
    assert reader_client.post("/contacts/new/", {"email": "a@example.jp"}).status_code == 403


def test_only_administrators_manage_users(marketer_client, admin_client_):
    assert marketer_client.get("/settings/users/").status_code == 403
    assert admin_client_.get("/settings/users/").status_code == 200


def test_a_deactivated_user_can_do_nothing(make_user):
    user = make_user(Role.ADMIN)
    user.is_active = False
    assert not user.can(Capability.CRM_VIEW)


def test_every_role_has_a_capability_set():
    assert set(CAPABILITIES) == set(Role.values)
    assert all(Capability.CRM_VIEW in caps for caps in CAPABILITIES.values())
