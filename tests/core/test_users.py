import pytest
from django.test import Client

from tsunagari.core import services
from tsunagari.core.models import Team, User
from tsunagari.core.roles import Role

pytestmark = pytest.mark.django_db


def test_a_user_logs_in_with_the_password_and_lands_on_the_dashboard():
    services.user_create(username="sato", password="long enough pass", role=Role.MARKETING)
    client = Client()
    response = client.post("/login/", {"username": "sato", "password": "long enough pass"})
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200


def test_a_wrong_password_does_not_log_in():
    services.user_create(username="sato", password="long enough pass", role=Role.MARKETING)
    client = Client()
    response = client.post("/login/", {"username": "sato", "password": "nope"})
    assert response.status_code == 200
    assert client.get("/contacts/").status_code == 302


def test_logging_out_needs_a_post_and_ends_the_session(marketer_client):
    assert marketer_client.get("/logout/").status_code == 405
    marketer_client.post("/logout/")
    assert marketer_client.get("/contacts/").status_code == 302


def test_the_first_run_admin_gets_a_random_password_only_once():
    first = services.first_admin_if_none()
    assert first is not None
    user, password = first
    assert user.role == Role.ADMIN and user.check_password(password) and len(password) >= 12
    assert services.first_admin_if_none() is None


def test_two_first_runs_never_share_a_password(django_user_model):
    _, one = services.first_admin_if_none()
    User.objects.all().delete()
    _, two = services.first_admin_if_none()
    assert one != two


def test_an_admin_creates_a_user_with_a_role(admin_client_):
    response = admin_client_.post(
        "/settings/users/new/",
        {
            "username": "tanaka",
            "display_name": "田中",
            "email": "",
            "role": "inside_sales",
            "password": "a very long password",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="tanaka").role == Role.INSIDE_SALES


def test_a_weak_password_is_refused_with_a_message(admin_client_):
    response = admin_client_.post(
        "/settings/users/new/",
        {"username": "tanaka", "role": "inside_sales", "password": "123"},
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="tanaka").exists()
    assert response.context["form"].errors["password"]


def test_the_last_admin_cannot_demote_themselves(admin_user, admin_client_):
    response = admin_client_.post(
        f"/settings/users/{admin_user.pk}/",
        {"display_name": "", "email": "", "role": "marketing", "is_active": "on"},
    )
    assert response.status_code == 200
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_teams_group_members(admin_client_, make_user):
    rep = make_user(Role.INSIDE_SALES)
    response = admin_client_.post(
        "/settings/teams/new/", {"name": "IS東京", "kind": "inside_sales", "members": [rep.pk]}
    )
    assert response.status_code == 302
    assert list(Team.objects.get(name="IS東京").members.all()) == [rep]


def test_the_ui_speaks_japanese_by_default_and_english_when_switched(marketer_client):
    japanese = marketer_client.get("/contacts/").content.decode()
    assert "コンタクト" in japanese
    marketer_client.post("/i18n/setlang/", {"language": "en", "next": "/contacts/"})
    english = marketer_client.get("/contacts/").content.decode()
    assert "Contacts" in english
    assert "コンタクト" not in english


def test_the_browser_language_is_honoured(marketer):
    client = Client(headers={"accept-language": "en-US,en;q=0.9"})
    client.force_login(marketer)
    assert "コンタクト" not in client.get("/contacts/").content.decode()


def test_the_first_run_admin_is_created_when_only_staff_without_admin_rights_exist(make_user):
    make_user(Role.MARKETING, username="admin")  # e.g. demo staff, or a renamed account
    created = services.first_admin_if_none()
    assert created is not None
    assert created[0].username == "admin2" and created[0].role == Role.ADMIN
