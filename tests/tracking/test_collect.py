import json

import pytest
from django.test import Client

from tests.tracking.conftest import ORIGIN, UID
from tsunagari.core.ratelimit import RateLimiter
from tsunagari.tracking import endpoint
from tsunagari.tracking.models import Touchpoint, Visitor
from tsunagari.tracking.sites import site_cache

pytestmark = pytest.mark.django_db(transaction=True)

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def send(payload, origin=ORIGIN, ua=CHROME, **headers):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return Client().post(
        "/t/collect",
        body,
        content_type="text/plain",
        headers={"Origin": origin, "User-Agent": ua, **headers},
    )


def page_view(**extra):
    return {
        "k": "pv",
        "v": UID,
        "u": f"{ORIGIN}/pricing?utm_source=google&utm_campaign=fall",
        "t": "料金 | Example",
        "r": "https://www.google.com/",
        "s": "1920x1080",
        "c": 1,
        **extra,
    }


def test_a_page_view_is_stored_before_the_browser_gets_its_answer(site):
    response = send(page_view())
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    touch = Touchpoint.objects.get()
    assert (touch.type, touch.channel, touch.path) == ("page_view", "web", "/pricing")
    assert (touch.utm_source, touch.utm_campaign, touch.campaign) == ("google", "fall", "fall")
    assert touch.title == "料金 | Example" and touch.properties["screen"] == "1920x1080"
    assert Visitor.objects.get(uid=UID).pk == touch.visitor_id


def test_time_on_page_and_custom_events_are_recorded(site):
    send(page_view(k="leave", d=42_000))
    send(page_view(k="ev", n="video.play", p={"id": "intro", "sec": 3}))
    leave, event = Touchpoint.objects.order_by("id")
    assert (leave.type, leave.duration_ms) == ("page_leave", 42_000)
    assert event.type == "custom_event"
    assert event.properties == {
        "event": "video.play",
        "id": "intro",
        "sec": 3,
        "screen": "1920x1080",
    }


def test_an_unregistered_origin_is_refused_and_nothing_is_stored(site):
    assert send(page_view(), origin="https://evil.example.com").status_code == 403
    assert send(page_view(), origin="").status_code == 403
    assert not Touchpoint.objects.exists()


def test_a_page_url_from_another_site_is_refused(site):
    response = send(page_view(u="https://evil.example.com/x"))
    assert response.status_code == 400
    assert not Touchpoint.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1,2]",
        json.dumps({"k": "pv"}),
        json.dumps({"k": "bad"}),
        json.dumps({"k": "pv", "v": "guessable", "u": ORIGIN + "/"}),
        json.dumps({"k": "leave", "u": ORIGIN + "/", "d": -5}),
        json.dumps({"k": "ev", "u": ORIGIN + "/", "n": "<script>"}),
        json.dumps({"k": "pv", "u": ORIGIN + ":99999/"}),  # a port no URL can have
        json.dumps({"k": "pv", "u": "https://[::1/"}),  # not a URL at all
        b"\xff\xfe",
    ],
)
def test_malformed_payloads_get_a_clear_400_and_change_nothing(site, body):
    response = send(body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert not Touchpoint.objects.exists()


def test_an_oversized_payload_is_refused(site):
    response = send(page_view(t="x" * 20_000))
    assert response.status_code == 400
    assert not Touchpoint.objects.exists()


def test_bots_are_excluded_by_default_and_flagged_when_recorded(site):
    assert (
        send(page_view(), ua="Googlebot/2.1 (+http://www.google.com/bot.html)").status_code == 204
    )
    assert not Touchpoint.objects.exists()
    site.record_bots = True
    site.save()
    site_cache.reload()
    send(page_view(), ua="Googlebot/2.1")
    assert Touchpoint.objects.get().is_bot


def test_do_not_track_is_honoured_unless_the_site_says_otherwise(site):
    send(page_view(), DNT="1")
    assert not Touchpoint.objects.exists()
    site.honour_dnt = False
    site.save()
    site_cache.reload()
    send(page_view(), DNT="1")
    assert Touchpoint.objects.count() == 1


def test_cookieless_mode_records_the_visit_without_following_the_browser(site):
    site.consent_mode = "cookieless"
    site.save()
    site_cache.reload()
    send(page_view(c=0))
    assert Touchpoint.objects.get().visitor_id is None
    assert not Visitor.objects.exists()
    send(page_view(c=1))
    assert Touchpoint.objects.filter(visitor__uid=UID).count() == 1


def test_opt_in_mode_records_nothing_before_consent(site):
    site.consent_mode = "opt_in"
    site.save()
    site_cache.reload()
    send(page_view(c=0))
    assert not Touchpoint.objects.exists()


def test_a_flood_from_one_address_is_cut_off_with_429(site, monkeypatch):
    monkeypatch.setattr(endpoint, "limiter", RateLimiter(rate=0.001, burst=3))
    statuses = [send(page_view()).status_code for _ in range(6)]
    assert statuses == [204, 204, 204, 429, 429, 429]
    assert Touchpoint.objects.count() == 3


def test_the_preflight_answers_only_registered_origins(site):
    ok = Client().options("/t/collect", headers={"Origin": ORIGIN})
    assert ok.status_code == 204 and ok["Access-Control-Allow-Origin"] == ORIGIN
    assert ok["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert ok["Access-Control-Allow-Headers"] == "Content-Type"
    assert Client().options("/t/collect", headers={"Origin": "https://x.test"}).status_code == 403


def test_the_pixel_records_a_page_view_from_a_registered_referer(site):
    response = Client().get(
        "/t/p.gif",
        {"u": f"{ORIGIN}/nojs", "t": "No JS"},
        headers={"Referer": f"{ORIGIN}/nojs", "User-Agent": CHROME},
    )
    assert response["Content-Type"] == "image/gif"
    touch = Touchpoint.objects.get()
    assert (touch.path, touch.visitor_id) == ("/nojs", None)


def test_the_pixel_from_elsewhere_stores_nothing(site):
    Client().get("/t/p.gif", {"u": "https://x.test/"}, headers={"Referer": "https://x.test/"})
    assert not Touchpoint.objects.exists()


@pytest.mark.parametrize("referer", ["https://www.example.co.jp:99999/", "http://[::1/"])
def test_a_malformed_referer_gets_the_image_not_an_error(site, referer):
    response = Client().get("/t/p.gif", {"u": f"{ORIGIN}/"}, headers={"Referer": referer})
    assert (response.status_code, response["Content-Type"]) == (200, "image/gif")
    assert not Touchpoint.objects.exists()


def test_the_snippet_is_small_cached_and_has_no_dependencies(client):
    response = client.get("/t.js")
    assert response.status_code == 200
    assert len(response.content) < 5 * 1024
    assert "max-age" in response["Cache-Control"]
    assert b"import " not in response.content and b"http://" not in response.content
