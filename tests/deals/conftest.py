"""Fixtures of the deals tests: an account with two contacts, and a sales rep."""

from __future__ import annotations

import pytest

from tests.crm.factories import make_account, make_contact
from tsunagari.core.roles import Role
from tsunagari.crm.models import Account, Contact


@pytest.fixture
def account(db) -> Account:
    return make_account("株式会社山田製作所", domains=("yamada.co.jp",))


@pytest.fixture
def contact(account) -> Contact:
    return make_contact("taro@yamada.co.jp", account=account, lifecycle_stage="sql")


@pytest.fixture
def colleague(account) -> Contact:
    return make_contact(
        "hanako@yamada.co.jp", given_name="花子", account=account, lifecycle_stage="mql"
    )


@pytest.fixture
def rep(make_user):
    return make_user(Role.INSIDE_SALES, username="rep")
