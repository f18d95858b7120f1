"""Test data made through the services, as the product makes it."""

from __future__ import annotations

from tsunagari.crm import services
from tsunagari.crm.models import Account, Contact


def make_account(
    name: str = "株式会社つながり", domains: tuple[str, ...] = (), **fields
) -> Account:
    return services.account_save(account=Account(name=name, **fields), domains=domains)


def make_contact(email: str | None = "taro@example.jp", **fields) -> Contact:
    fields.setdefault("family_name", "佐藤")
    fields.setdefault("given_name", "太郎")
    tags = fields.pop("tags", None)
    return services.contact_save(contact=Contact(email=email, **fields), tags=tags)
