"""Company IP ranges: the narrowest range holding an address names the visitor's company."""

from __future__ import annotations

import ipaddress

import pytest

from tests.crm.factories import make_account
from tsunagari.tracking.models import IpRange
from tsunagari.tracking.sites import account_for_ip, ip_key, range_cache, range_keys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    range_cache.clear()  # what an earlier test's rolled-back ranges left in it
    yield
    range_cache.clear()


def _range(account, cidr: str) -> IpRange:
    start, end = range_keys(cidr)
    return IpRange.objects.create(account=account, cidr=cidr, start=start, end=end)


@pytest.mark.parametrize("in_memory", [True, False])
def test_the_narrowest_range_wins_and_changes_count_at_once(in_memory, monkeypatch):
    if not in_memory:  # a table too large to hold: each lookup asks the database
        monkeypatch.setattr(range_cache, "IN_MEMORY_UP_TO", 1)
    group, branch, other = make_account(), make_account(), make_account()
    assert account_for_ip("10.1.2.3") is None
    _range(group, "10.0.0.0/8")
    wide_only = account_for_ip("10.9.9.9")
    nested = _range(branch, "10.1.0.0/16")
    _range(other, "2001:db8::/32")
    assert wide_only == group.pk
    assert account_for_ip("10.1.2.3") == branch.pk  # inside both: the /16
    assert account_for_ip("10.2.0.1") == group.pk  # after the /16, still in the /8
    assert account_for_ip("11.0.0.1") is None
    assert account_for_ip("2001:db8::1") == other.pk
    assert account_for_ip("not an address") is None
    nested.delete()
    assert account_for_ip("10.1.2.3") == group.pk


def test_a_company_deleted_in_another_process_is_not_put_on_a_new_visitor(monkeypatch):
    from tsunagari.tracking.sites import existing_account_for_ip

    company = make_account()
    _range(company, "203.0.113.0/24")
    assert existing_account_for_ip("203.0.113.9") == company.pk
    gone = company.pk
    company.delete()
    # Another web process still holds the ranges it loaded before the delete.
    monkeypatch.setattr(range_cache, "account", lambda key: gone)
    assert account_for_ip("203.0.113.9") == gone  # what the cache says
    assert existing_account_for_ip("203.0.113.9") is None  # what a visitor may be saved with


def test_address_keys_sort_like_the_addresses_and_refuse_what_is_not_one():
    # IPv4 sits in IPv6 space at ::ffff:0:0/96, so one sorted column holds both.
    lowest = "0.0.0.0"  # noqa: S104  (an address to sort, not one to listen on)
    ordered = [lowest, "1.2.3.4", "1.2.3.5", "255.255.255.255", "2001:db8::1", "ffff::"]
    keys = [ip_key(address) for address in ordered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert ip_key("1.2.3.4") == ip_key("::ffff:1.2.3.4")
    assert int(ip_key("1.2.3.4")) == int(ipaddress.ip_address("::ffff:1.2.3.4"))
    assert int(ip_key("2001:db8::1")) == int(ipaddress.ip_address("2001:db8::1"))
    assert ip_key("fe80::1%eth0") == ip_key("fe80::1")  # a zone names the same address
    for bad in ["", "1.2.3", "1.2.3.256", "01.2.3.4", "abc", "2001:db8::1::2", " 1.2.3.4"]:
        assert ip_key(bad) is None, bad
    assert range_keys("1.2.3.0/24") == (ip_key("1.2.3.0"), ip_key("1.2.3.255"))
