"""In-app notifications: stored for the user, emailed after commit, listed and marked read."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.conftest import client_for
from tsunagari.core.models import Notification
from tsunagari.core.services import CoreError, notify

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_notification_is_stored_and_emailed_once_committed(make_user, smtp_server):
    user = make_user(email="rep@example.jp")
    with transaction.atomic():
        notify(user, title="新しい MQL", body="フォローしてください", url="/scoring/leads/1/")
        assert not smtp_server.messages  # nothing leaves before the commit
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["rep@example.jp"]
    assert mail.message["Subject"] == "新しい MQL"
    assert "/scoring/leads/1/" in mail.message.get_content()
    assert Notification.objects.get(user=user).url == "/scoring/leads/1/"


def test_a_rolled_back_change_sends_nothing(make_user, smtp_server):
    user = make_user(email="rep@example.jp")
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(user, title="x")
        raise RuntimeError
    assert not Notification.objects.exists()
    assert not smtp_server.messages


def test_a_link_outside_the_app_is_refused(make_user):
    with pytest.raises(CoreError):
        notify(make_user(), title="x", url="https://evil.example/")


def test_the_top_bar_counts_unread_and_the_list_marks_them_read(make_user):
    user = make_user()
    notify(user, title="一件目", email=False)
    notify(user, title="二件目", email=False)
    client = client_for(user)
    assert '<span class="badge">2</span>' in client.get("/notifications/").content.decode()
    client.post("/notifications/")
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    assert '<span class="badge">' not in client.get("/notifications/").content.decode()
