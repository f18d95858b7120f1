"""Opens and clicks: opaque signed links, destinations from the database, machine opens and
scanner clicks flagged, touchpoints written, a known visitor identified; forged tokens 404."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.mail.conftest import make_segment, opted_in
from tsunagari.mail import services, tokens
from tsunagari.mail.models import Broadcast, Click, Message
from tsunagari.mail.sending import send_batch
from tsunagari.tracking.models import Touchpoint, Visitor

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


@pytest.fixture
def delivered(smtp_server, template):
    contact = opted_in("satou@example.jp", family_name="佐藤")
    broadcast = Broadcast.objects.create(
        name="11月 ニュース", template=template, segment=make_segment("s", [contact])
    )
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    send_batch()
    (mail,) = smtp_server.messages
    html = mail.message.get_body(("html",)).get_content()
    clicks = [urlsplit(u).path for u in re.findall(r'href="(https://mail[^"]+/m/c/[^"]+)"', html)]
    (pixel,) = [urlsplit(u).path for u in re.findall(r'src="([^"]+/m/o/[^"]+)"', html)]
    return Message.objects.get(broadcast=broadcast), clicks, pixel


@pytest.mark.django_db(transaction=True)
def test_a_human_click_redirects_to_the_stored_url_with_utm_and_counts(delivered):
    message, clicks, _pixel = delivered
    visitor = Visitor.objects.create(
        uid="ab" * 16, first_seen=message.sent_at, last_seen=message.sent_at
    )
    client = Client(HTTP_USER_AGENT=BROWSER)
    client.cookies["_tsg_vid"] = visitor.uid
    response = client.get(clicks[0])
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.netloc, target.path) == ("www.example.co.jp", "/features")
    query = parse_qs(target.query)
    assert query["from"] == ["news"] and query["utm_medium"] == ["email"]
    assert query["utm_campaign"] == ["11月-ニュース"]
    message.refresh_from_db()
    assert message.clicked_at is not None and message.opened_at is not None
    touch = Touchpoint.objects.get(type="email_clicked")
    assert touch.url == "https://www.example.co.jp/features?from=news"
    assert touch.properties == {
        "broadcast_id": message.broadcast_id,
        "message_id": message.pk,
        "template_id": message.template_id,
        "machine": False,
    }
    visitor.refresh_from_db()
    assert visitor.contact_id == message.contact_id  # the click identified the visitor


@pytest.mark.django_db(transaction=True)
def test_a_scanner_following_every_link_is_flagged_not_counted(delivered):
    _message, clicks, _pixel = delivered
    scanner = Client(HTTP_USER_AGENT=BROWSER)
    for path in clicks[:2]:
        assert scanner.get(path).status_code == 302
    assert Client(HTTP_USER_AGENT="Mimecast-LinkScanner/1.0").get(clicks[0]).status_code == 302
    assert Client(HTTP_USER_AGENT=BROWSER).head(clicks[1]).status_code == 302
    flags = list(Click.objects.order_by("id").values_list("machine", flat=True))
    assert flags == [False, True, True, True]  # the second link within seconds: a scanner
    machine = Touchpoint.objects.filter(type="email_clicked", properties__machine=True)
    assert machine.count() == 3


@pytest.mark.django_db(transaction=True)
def test_opens_set_no_cookie_and_privacy_proxies_are_machine_opens(delivered):
    message, _clicks, pixel = delivered
    proxy = Client(HTTP_USER_AGENT="Mozilla/5.0").get(pixel)
    assert proxy.status_code == 200 and proxy["Content-Type"] == "image/gif"
    assert not proxy.cookies
    message.refresh_from_db()
    assert message.machine_opened_at is not None and message.opened_at is None
    Client(HTTP_USER_AGENT=BROWSER).get(pixel)
    message.refresh_from_db()
    assert message.opened_at is not None
    opens = Touchpoint.objects.filter(type="email_opened").order_by("id")
    assert [t.properties["machine"] for t in opens] == [True, False]


@pytest.mark.django_db(transaction=True)
def test_forged_and_stitched_tokens_are_404_and_change_nothing(delivered, template):
    message, clicks, pixel = delivered
    client = Client(HTTP_USER_AGENT=BROWSER)
    forged_click = clicks[0][:-3] + "xx/"
    assert client.get(forged_click).status_code == 404
    other_link = tokens.click_token(message.pk, 999_999)
    assert client.get(f"/m/c/{other_link}/").status_code == 404
    assert client.get("/m/c/https:%2F%2Fevil.example/").status_code == 404
    assert client.post(f"/m/u/{tokens.unsubscribe_token(message.pk)}x/").status_code == 404
    assert client.post(f"/m/u/{tokens.open_token(message.pk)}/").status_code == 404  # wrong salt
    assert client.get(f"/m/p/{tokens.unsubscribe_token(message.contact_id)}/").status_code == 404
    assert client.get(pixel[:-8] + "AAAA.gif").status_code == 200  # an image either way
    assert Click.objects.count() == 0 and not Touchpoint.objects.exclude(type="email_sent").exists()
    message.contact.refresh_from_db()
    assert message.contact.email_consent == "opt_in"
