"""The visitor's address behind trusted reverse proxies (TSUNAGARI_TRUSTED_PROXIES)."""

from __future__ import annotations

import pytest

from tsunagari.core.proxies import BehindProxies, client_address

BROWSER = "203.0.113.9"


@pytest.fixture
def behind_proxies(settings):
    settings.TSUNAGARI_TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7"]


def test_without_trusted_proxies_the_peer_is_the_visitor(settings):
    settings.TSUNAGARI_TRUSTED_PROXIES = []
    assert client_address("10.0.0.1", BROWSER) == "10.0.0.1"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("10.0.0.1", BROWSER, BROWSER),  # one proxy
        ("10.0.0.1", f"{BROWSER}, 192.0.2.7", BROWSER),  # two proxies
        # What the browser itself put in the header is left of the first hop we trust.
        ("10.0.0.1", f"198.51.100.1, {BROWSER}", BROWSER),
        ("10.0.0.1", "", "10.0.0.1"),  # a proxy's own request (a health check)
        ("10.0.0.1", "10.0.0.5, 192.0.2.7", "10.0.0.5"),  # proxies all the way
        ("10.0.0.1", f"{BROWSER}, not-an-address", "10.0.0.1"),  # no proxy of ours wrote that
        ("2001:db8::1", BROWSER, "2001:db8::1"),  # not a proxy: its claim is ignored
        ("198.51.100.1", BROWSER, "198.51.100.1"),
    ],
)
def test_the_visitor_is_the_first_hop_right_of_the_trusted_proxies(
    behind_proxies, peer, forwarded_for, expected
):
    assert client_address(peer, forwarded_for) == expected


def test_the_wsgi_middleware_rewrites_remote_addr_for_the_app(behind_proxies):
    seen = {}

    def app(environ, start_response):
        seen["address"] = environ["REMOTE_ADDR"]
        start_response("204 No Content", [])
        return [b""]

    wrapped = BehindProxies(app)
    environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": BROWSER}
    assert wrapped(environ, lambda status, headers: None) == [b""]
    assert seen["address"] == BROWSER
    wrapped({"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": BROWSER}, lambda *a: None)
    assert seen["address"] == "198.51.100.1"
