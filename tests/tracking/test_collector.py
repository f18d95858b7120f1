"""The collect server (`tsunagari collect`): its event-loop waiting in process, then for real.

The in-process tests drive the waker and a real group-commit writer on this test's database.
The others start `tsunagari collect` (granian) as a subprocess on the same database and talk
HTTP to it, as a browser's snippet does.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import time

import pytest
from django.db import connection  # noqa: F401  (read by the skipif conditions)

from tests.crm.factories import make_account
from tests.processes import database_url, free_port, start_collector, stop_collector, wait_until
from tests.tracking.conftest import ORIGIN
from tsunagari.tracking import collector as collector_module
from tsunagari.tracking import ingest
from tsunagari.tracking.collect import parse_hit
from tsunagari.tracking.collector import AwaitedHit, LoopWaker
from tsunagari.tracking.ingest import GroupCommitWriter, IngestTimeout
from tsunagari.tracking.models import IpRange, Touchpoint, TrackedSite, Visitor
from tsunagari.tracking.sites import range_keys

pytestmark = pytest.mark.django_db(transaction=True)

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def awaited(waker: LoopWaker, path: str, uid: str = "a" * 32) -> AwaitedHit:
    body = json.dumps({"k": "pv", "v": uid, "u": f"{ORIGIN}{path}", "t": "料金", "c": 1})
    hit = AwaitedHit(
        hit=parse_hit(body.encode(), origin=ORIGIN),
        source=ORIGIN,
        user_agent=CHROME,
        is_bot=False,
        ip="192.0.2.1",
    )
    hit.waker = waker
    return hit


class CountingWaker(LoopWaker):
    def __init__(self, loop) -> None:
        super().__init__(loop)
        self.wake_ups = 0

    def _resolve(self) -> None:
        self.wake_ups += 1
        super()._resolve()


def test_waiting_requests_are_answered_when_their_batch_commits_with_few_wake_ups():
    writer = GroupCommitWriter()

    async def main() -> CountingWaker:
        waker = CountingWaker(asyncio.get_running_loop())
        hits = [awaited(waker, f"/page/{i}", uid=f"{i:032x}") for i in range(60)]
        futures = [waker.wait_for(hit) for hit in hits]
        for hit in hits:
            writer.enqueue(hit)
        # Nothing is answered before the writer has committed it.
        assert not any(f.done() for f in futures)
        await asyncio.wait_for(asyncio.gather(*futures), 30)
        return waker

    try:
        waker = asyncio.run(main())
    finally:
        writer.stop()
    assert Touchpoint.objects.filter(path__startswith="/page/").count() == 60
    assert Visitor.objects.count() == 60
    # One wake-up of the event loop resolves every hit that finished meanwhile.
    assert 1 <= waker.wake_ups < 60


def test_a_hit_not_committed_in_time_is_failed_by_the_sweep(monkeypatch):
    monkeypatch.setattr(ingest, "WAIT_SECONDS", 0.2)
    monkeypatch.setattr(collector_module, "SWEEP_SECONDS", 0.05)

    async def main() -> float:
        waker = LoopWaker(asyncio.get_running_loop())
        started = time.monotonic()
        with pytest.raises(IngestTimeout):
            await waker.wait_for(awaited(waker, "/never-written"))  # no writer has it
        return time.monotonic() - started

    assert 0.15 < asyncio.run(main()) < 5


def test_a_failed_batch_fails_its_waiting_requests_and_stores_nothing():
    writer = GroupCommitWriter()

    async def main() -> BaseException | None:
        waker = LoopWaker(asyncio.get_running_loop())
        bad = awaited(waker, "/broken")
        bad.hit.occurred_at = None  # required: the batch rolls back
        future = waker.wait_for(bad)
        writer.enqueue(bad)
        try:
            await asyncio.wait_for(future, 30)
        except Exception as exc:
            return exc
        return None

    try:
        failure = asyncio.run(main())
    finally:
        writer.stop()
    assert failure is not None and not isinstance(failure, IngestTimeout)
    assert not Touchpoint.objects.filter(path="/broken").exists()
    assert not Visitor.objects.exists()


# --- the server, for real -------------------------------------------------------------------


def _request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None
) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body, headers or {})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def _page_view(port: int, path: str = "/pricing?utm_source=expo", **headers) -> tuple:
    body = json.dumps(
        {
            "k": "pv",
            "v": "f" * 32,
            "u": f"{ORIGIN}{path}",
            "t": "<script>alert(1)</script>料金",
            "c": 1,
        }
    ).encode()
    sent = {"Origin": ORIGIN, "User-Agent": CHROME, "Content-Type": "text/plain"} | headers
    return _request(port, "POST", "/t/collect", body, sent)


@pytest.fixture
def collector():
    TrackedSite.objects.create(name="コーポレートサイト", origin=ORIGIN)
    port = free_port()
    # A small burst, so that a flood is cut off within a test.
    process = start_collector(port, TSUNAGARI_COLLECT_RATE="1", TSUNAGARI_COLLECT_BURST="30")
    try:
        yield port
    finally:
        stop_collector(process)


def test_the_collect_server_stores_a_page_view_before_it_answers(collector):
    status, headers, body = _page_view(collector)
    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == ORIGIN
    # No content, no length (RFC 9110); what the origin may send is the preflight's to say.
    assert "content-length" not in headers and "access-control-allow-methods" not in headers
    stored = Touchpoint.objects.get()  # stored by the time the browser has its answer
    assert stored.type == "page_view" and stored.path == "/pricing"
    assert stored.utm_source == "expo" and stored.source == ORIGIN
    assert stored.title == "<script>alert(1)</script>料金"  # text, escaped wherever shown
    assert stored.visitor.uid == "f" * 32
    # Keep-alive: one connection carries a browser's page views, each one stored.
    conn = http.client.HTTPConnection("127.0.0.1", collector, timeout=10)
    for i in range(3):
        body = json.dumps({"k": "pv", "v": "f" * 32, "u": f"{ORIGIN}/k/{i}", "c": 1})
        conn.request("POST", "/t/collect", body, {"Origin": ORIGIN, "User-Agent": CHROME})
        response = conn.getresponse()
        response.read()
        assert response.status == 204
    assert Touchpoint.objects.filter(path__startswith="/k/").count() == 3
    assert Visitor.objects.count() == 1


def test_the_collect_server_refuses_what_the_snippet_would_not_send(collector):
    status, _, body = _page_view(collector, Origin="https://evil.example.com")
    assert (status, json.loads(body)) == (403, {"error": "origin not registered"})
    status, _, body = _request(
        collector, "POST", "/t/collect", b"{not json", {"Origin": ORIGIN, "User-Agent": CHROME}
    )
    assert (status, json.loads(body)) == (400, {"error": "payload is not JSON"})
    big = json.dumps({"k": "pv", "u": f"{ORIGIN}/", "t": "x" * 9000}).encode()
    status, _, body = _request(collector, "POST", "/t/collect", big, {"Origin": ORIGIN})
    assert (status, json.loads(body)) == (400, {"error": "payload too large"})
    assert _request(collector, "GET", "/t/collect", headers={"Origin": ORIGIN})[0] == 405
    assert _request(collector, "GET", "/login/")[0] == 404  # the web app lives elsewhere
    # A crawler is answered like a browser and recorded nowhere.
    assert _page_view(collector, **{"User-Agent": "Googlebot/2.1"})[0] == 204
    # The preflight answers registered origins only.
    status, headers, _ = _request(collector, "OPTIONS", "/t/collect", headers={"Origin": ORIGIN})
    assert status == 204 and headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-max-age"] == "86400"
    evil = {"Origin": "https://evil.example.com"}
    assert _request(collector, "OPTIONS", "/t/collect", headers=evil)[0] == 403
    assert not Touchpoint.objects.exists() and not Visitor.objects.exists()


def test_a_flood_from_one_address_is_cut_off_with_429(collector):
    statuses = [_page_view(collector, path=f"/flood/{i}")[0] for i in range(45)]
    assert statuses[:20] == [204] * 20 and statuses.count(429) >= 10
    assert Touchpoint.objects.count() == statuses.count(204)


def test_a_site_registered_while_it_runs_is_accepted_within_seconds(collector):
    other = "https://recruit.example.co.jp"

    def send() -> int:
        body = json.dumps({"k": "pv", "u": f"{other}/jobs", "c": 1}).encode()
        headers = {"Origin": other, "User-Agent": CHROME}
        return _request(collector, "POST", "/t/collect", body, headers)[0]

    assert send() == 403
    TrackedSite.objects.create(name="採用サイト", origin=other)
    wait_until(lambda: send() == 204, 15, "the new site to be accepted")
    TrackedSite.objects.filter(origin=other).update(is_active=False)
    wait_until(lambda: send() == 403, 15, "the deactivated site to be refused")
    stored = Touchpoint.objects.filter(source=other).count()
    assert stored >= 1  # what was accepted meanwhile, and nothing after the refusal
    assert send() == 403 and Touchpoint.objects.filter(source=other).count() == stored


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_collect_refuses_several_processes_on_sqlite():
    result = subprocess.run(
        [sys.executable, "-m", "tsunagari.cli", "collect", "--processes", "2"],
        env={**os.environ, "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "SQLite has one writer" in result.stderr


def test_the_snippet_shown_to_staff_points_at_the_collect_server_when_there_is_one(
    admin_client_, settings
):
    TrackedSite.objects.create(name="コーポレートサイト", origin=ORIGIN)
    page = admin_client_.get("/tracking/").content.decode()
    assert "data-collect" not in page
    settings.TSUNAGARI_COLLECT_URL = "https://collect.example.co.jp"
    page = admin_client_.get("/tracking/").content.decode()
    assert 'data-collect="https://collect.example.co.jp"' in page


def test_behind_a_trusted_proxy_visitors_are_known_by_their_own_address():
    # The load balancer (here: this machine) forwards each browser's address; company IP
    # ranges and the flood limit apply to that, not to the balancer's.
    TrackedSite.objects.create(name="コーポレートサイト", origin=ORIGIN)
    office = make_account(name="株式会社つなぎ")
    start, end = range_keys("203.0.113.0/24")
    IpRange.objects.create(account=office, cidr="203.0.113.0/24", start=start, end=end)
    port = free_port()
    process = start_collector(
        port,
        TSUNAGARI_TRUSTED_PROXIES="127.0.0.1",
        TSUNAGARI_COLLECT_RATE="1",
        TSUNAGARI_COLLECT_BURST="5",
    )
    try:

        def visit(uid: str, forwarded_for: str) -> int:
            body = json.dumps({"k": "pv", "v": uid, "u": f"{ORIGIN}/", "c": 1}).encode()
            headers = {"Origin": ORIGIN, "User-Agent": CHROME, "X-Forwarded-For": forwarded_for}
            return _request(port, "POST", "/t/collect", body, headers)[0]

        assert visit("1" * 32, "203.0.113.9") == 204  # from the company's office
        assert visit("2" * 32, "198.51.100.20") == 204  # from elsewhere
        # One address floods and is cut off; another is not held back by it.
        flood = [visit("3" * 32, "198.51.100.66") for _ in range(12)]
        assert 429 in flood
        assert visit("4" * 32, "198.51.100.77") == 204
    finally:
        stop_collector(process)
    assert Visitor.objects.get(uid="1" * 32).account == office
    assert Visitor.objects.get(uid="2" * 32).account is None
    assert Visitor.objects.filter(uid="4" * 32).exists()


@pytest.mark.parametrize(
    ("client", "address"),
    [("203.0.113.9:51234", "203.0.113.9"), ("[2001:db8::1]:51234", "2001:db8::1"), ("", "")],
)
def test_the_peer_address_is_read_from_what_granian_gives(client, address):
    assert collector_module._client_ip(client) == address
