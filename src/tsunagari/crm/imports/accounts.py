"""The accounts an import matches or adds: by 法人番号, then domain, then normalised name.

One cache for the whole job, so that every row of the same company finds the same object.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from tsunagari.crm.imports.tables import slices
from tsunagari.crm.models import LIVE, Account, AccountDomain

_ACCOUNT_VALUES = (
    "name",
    "name_kana",
    "industry",
    "employee_count",
    "annual_revenue",
    "capital",
    "prefecture",
    "address",
    "phone",
)


class Accounts:
    def __init__(self) -> None:
        self.by_pk: dict[int, Account] = {}
        self.by_number: dict[str, Account | None] = {}  # None: looked up, no such account
        self.by_domain: dict[str, list[Account]] = {}
        self.by_name: dict[str, list[Account]] = defaultdict(list)
        self.names_loaded: set[str] = set()
        self.new: list[Account] = []
        self.new_domains: list[tuple[Account, str]] = []
        self.dirty: dict[int, tuple[Account, set[str]]] = {}
        self.created = 0

    def _adopt(self, account: Account) -> Account:
        """One object per account for the whole job, so changes to it are never lost."""
        return self.by_pk.setdefault(account.pk, account)

    def load(self, numbers: set[str], domains: set[str], names: set[str]) -> None:
        """Fetch the accounts a batch may match: a few queries, whatever the batch size."""
        # Deleted accounts too: they still hold their number (it is unique over all rows).
        for part in slices(sorted(numbers - self.by_number.keys())):
            for account in Account.objects.filter(corporate_number__in=part):
                self.by_number[account.corporate_number] = self._adopt(account)
            for number in part:
                self.by_number.setdefault(number, None)
        for part in slices(sorted(domains - self.by_domain.keys())):
            pairs = list(
                AccountDomain.objects.filter(
                    domain__in=part, account__deleted_at__isnull=True
                ).values_list("domain", "account_id")
            )
            missing = {pk for _domain, pk in pairs} - self.by_pk.keys()
            for account in Account.objects.filter(pk__in=missing):
                self._adopt(account)
            for domain in part:
                self.by_domain[domain] = []
            for domain, pk in pairs:
                self.by_domain[domain].append(self.by_pk[pk])
        for part in slices(sorted(names - self.names_loaded)):
            for account in Account.objects.filter(LIVE, name_key__in=part).order_by("pk"):
                self.by_name[account.name_key].append(self._adopt(account))
            self.names_loaded.update(part)

    def _resolve(self, number: str, domains: list[str], name_key: str) -> Account | None:
        def compatible(account: Account) -> bool:
            # Same name, different 法人番号: a different company that happens to share the name.
            return not number or not account.corporate_number or account.corporate_number == number

        if number and self.by_number.get(number) is not None:
            return self.by_number[number]
        for domain in domains:
            owners = self.by_domain.get(domain, [])
            if len(owners) == 1 and compatible(owners[0]):
                return owners[0]
        for account in self.by_name.get(name_key, []) if name_key else []:
            if compatible(account):
                return account
        return None

    def find_or_create(
        self, values: dict[str, Any], prefix: str, custom: dict[str, Any], *, overwrite: bool
    ) -> tuple[Account | None, bool, str]:
        """(account, created, error) for a row's account columns."""
        number = values.get(prefix + "corporate_number", "")
        domains = values.get(prefix + "domain", [])
        name_key = values.get(prefix + "name_key", "")
        account = self._resolve(number, domains, name_key)
        created = account is None
        if account is not None and account.deleted_at is not None:
            return (
                None,
                False,
                _(
                    "Corporate number %(number)s belongs to a deleted account; restore it or "
                    "merge it first."
                )
                % {"number": number},
            )
        if account is None:
            if not values.get(prefix + "name"):
                return (
                    None,
                    False,
                    _("No account matches, and there is no company name to add one."),
                )
            account = Account(corporate_number=None, custom={})
            self.new.append(account)
            self.created += 1
        self._fill(account, values, prefix, custom, overwrite=overwrite or created)
        for domain in domains:
            owners = self.by_domain.setdefault(domain, [])
            if not any(owner is account for owner in owners):
                owners.append(account)
                self.new_domains.append((account, domain))
        return account, created, ""

    def _fill(
        self,
        account: Account,
        values: dict[str, Any],
        prefix: str,
        custom: dict[str, Any],
        *,
        overwrite: bool,
    ) -> None:
        """Set the row's values: all of them, or (for a contact's company) only the empty ones."""
        changed: set[str] = set()
        for attr in _ACCOUNT_VALUES:
            value = values.get(prefix + attr)
            current = getattr(account, attr)
            if value is not None and value != current and (overwrite or current in ("", None)):
                setattr(account, attr, value)
                changed.add(attr)
        number = values.get(prefix + "corporate_number")
        if number and not account.corporate_number:
            account.corporate_number = number
            self.by_number[number] = account
            changed.add("corporate_number")
        if "name" in changed:
            account.name_key = values[prefix + "name_key"]
            self.by_name[account.name_key].append(account)
            changed.add("name_key")
        if custom:
            merged = {**account.custom, **custom} if overwrite else {**custom, **account.custom}
            if merged != account.custom:
                account.custom = merged
                changed.add("custom")
        if changed and account.pk is not None:
            self.dirty.setdefault(account.pk, (account, set()))[1].update(changed)

    def save(self, now: datetime) -> None:
        if self.new:
            Account.objects.bulk_create(self.new)
            for account in self.new:
                self.by_pk[account.pk] = account
            self.new = []
        if self.new_domains:
            AccountDomain.objects.bulk_create(
                [AccountDomain(account_id=a.pk, domain=d) for a, d in self.new_domains],
                ignore_conflicts=True,
            )
            self.new_domains = []
        # Grouped by the fields that changed: cached accounts are written only where we changed
        # them, so an edit made in the UI during a long import is not overwritten.
        groups: dict[frozenset[str], list[Account]] = defaultdict(list)
        for account, changed in self.dirty.values():
            account.updated_at = now
            groups[frozenset(changed)].append(account)
        for changed, accounts in groups.items():
            Account.objects.bulk_update(accounts, [*sorted(changed), "updated_at"])
        self.dirty = {}
