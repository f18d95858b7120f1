"""One pass over a job's rows: planning each batch (reads only) and writing it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from tsunagari.core.text import normalize_domain
from tsunagari.crm.choices import ConsentAction, ConsentChannel, ConsentMethod, ConsentState
from tsunagari.crm.imports.accounts import Accounts
from tsunagari.crm.imports.cleaning import CheckedRows, Cleaner, Row, fingerprint
from tsunagari.crm.imports.fields import import_fields
from tsunagari.crm.imports.reading import job_rows
from tsunagari.crm.imports.tables import Table, slices
from tsunagari.crm.models import (
    LIVE,
    Account,
    AccountDomain,
    ConsentRecord,
    Contact,
    ImportJob,
    LifecycleTransition,
    Tag,
)
from tsunagari.crm.services import CrmError, name_keys
from tsunagari.crm.validation import FREE_MAIL_DOMAINS

BATCH_SIZE = 2000

_CONTACT_VALUES = (
    "email",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "title",
    "department",
    "buying_role",
    "phone",
    "lifecycle_stage",
    "bant_budget",
    "bant_need",
    "bant_timing",
)
# What an update compares against: loaded with the existing contacts of a batch.
_CONTACT_LOADED = (
    "id",
    *_CONTACT_VALUES,
    "do_not_contact",
    "custom",
    "account_id",
    "email_consent",
)
# When and from where a BANT fact was learned (the buying role is the authority).
_BANT_STAMPS = {
    "bant_budget": "bant_budget",
    "bant_need": "bant_need",
    "bant_timing": "bant_timing",
    "buying_role": "bant_authority",
}
_NAME_FIELDS = {"family_name", "given_name", "family_name_kana", "given_name_kana"}

# A contact as plain column values (attribute names: account_id, not account).
_Record = dict[str, Any]


@dataclass
class Batch:
    rows: list[Row]
    new: list[_Record] = field(default_factory=list)  # contacts to insert
    changed: dict[int, _Record] = field(default_factory=dict)  # existing contacts, by id
    fields: set[str] = field(default_factory=set)  # columns changed on existing contacts
    account_of: list[tuple[_Record, Account]] = field(default_factory=list)
    link_by_domain: list[_Record] = field(default_factory=list)
    transitions: list[tuple[_Record, str, str]] = field(default_factory=list)
    consents: list[tuple[_Record, str]] = field(default_factory=list)
    tags: list[tuple[_Record, list[str]]] = field(default_factory=list)
    row_contacts: list[_Record] = field(default_factory=list)  # each written row's, in order

    def contact_ids(self) -> list[int]:
        """The contacts the batch's rows created or updated, in row order, each once.

        Only once the batch is written: new contacts get their ids then.
        """
        return list(dict.fromkeys(contact["id"] for contact in self.row_contacts))


class Run:
    """One pass over a job's file: a dry run for the preview (writing=False), or the import."""

    def __init__(
        self, job: ImportJob, mapping: dict[str, str], consent_basis: str, *, writing: bool
    ) -> None:
        self.job = job
        self.writing = writing
        self.fields = import_fields(job.object_type)
        gone = [key for key in mapping.values() if key not in self.fields]
        if gone:
            # A custom field deactivated after the mapping was chosen.
            raise CrmError(
                _("The field “%(field)s” no longer exists; upload the file again to map it.")
                % {"field": gone[0]}
            )
        self.mapping = mapping
        self.cleaner = Cleaner(
            object_type=job.object_type,
            fields=self.fields,
            headers=job.headers,
            mapping=mapping,
            consent_basis=consent_basis,
        )
        self.consent_basis = consent_basis.strip()
        self.fingerprint = fingerprint(job, mapping, self.consent_basis)
        self.accounts = Accounts()
        self.source = f"import: {job.file_name}"
        self.now = timezone.now()
        self.contacts = Table(Contact)
        self.transitions = Table(LifecycleTransition)
        self.consent_records = Table(ConsentRecord)

    def rows(self, *, skip: int = 0, record: CheckedRows | None = None) -> Iterator[Row]:
        """Cleaned rows after the first `skip` (whose emails still count for duplicates).

        The import reads them back from its dry run when that saw the same mapping; a dry run
        given `record` keeps them there.
        """
        if self.writing:
            kept = CheckedRows.read(self.job, self.fingerprint)
            if kept is not None:
                yield from islice(kept, skip, None)
                return
        rows = job_rows(self.job)
        for number, cells in islice(rows, skip):
            self.cleaner.note(number, cells)
        for number, cells in rows:
            row = self.cleaner.clean(number, cells)
            if record is not None:
                record.add(row)
            yield row

    def batches(self, *, skip: int = 0, record: CheckedRows | None = None) -> Iterator[list[Row]]:
        batch: list[Row] = []
        for row in self.rows(skip=skip, record=record):
            batch.append(row)
            if len(batch) == BATCH_SIZE:
                yield batch
                batch = []
        if batch:
            yield batch

    def plan(self, rows: list[Row]) -> Batch:
        """Decide each row's fate (create, update or error); reads, never writes."""
        self.now = timezone.now()
        prefix = self.cleaner.prefix
        numbers: set[str] = set()
        domains: set[str] = set()
        names: set[str] = set()
        for row in rows:
            if row.errors:
                continue
            if row.values.get(prefix + "corporate_number"):
                numbers.add(row.values[prefix + "corporate_number"])
            if row.values.get(prefix + "name_key"):
                names.add(row.values[prefix + "name_key"])
            domains.update(row.values.get(prefix + "domain", ()))
        self.accounts.load(numbers, domains, names)
        batch = Batch(rows)
        if self.cleaner.contacts:
            self._plan_contacts(batch)
            return batch
        for row in rows:
            if row.errors:
                row.action = "error"
                continue
            account, created, error = self.accounts.find_or_create(
                row.values, "", row.custom, overwrite=True
            )
            if error:
                row.errors.append(error)
            row.account = account
            row.action = "error" if error else "create" if created else "update"
        return batch

    def _plan_contacts(self, batch: Batch) -> None:
        emails = [r.values["email"] for r in batch.rows if not r.errors and "email" in r.values]
        existing: dict[str, _Record] = {}
        for part in slices(emails):
            live = Contact.objects.filter(LIVE, email__isnull=False, email__in=part)
            for found in live.values(*_CONTACT_LOADED):
                existing[found["email"]] = found
        for row in batch.rows:
            contact = existing.get(row.values.get("email", "")) if not row.errors else None
            consent = row.values.get("email_consent")
            if (
                consent == ConsentAction.OPT_IN
                and contact is not None
                and contact["email_consent"] == ConsentState.OPT_OUT
            ):
                row.errors.append(_("This person opted out; an import cannot opt them back in."))
            account = None
            if not row.errors and row.values.keys() & {
                "account.name",
                "account.corporate_number",
                "account.domain",
            }:
                account, _created, error = self.accounts.find_or_create(
                    row.values, "account.", {}, overwrite=False
                )
                if error:
                    row.errors.append(error)
            row.account = account
            if row.errors:
                row.action = "error"
            elif not self.writing:
                row.action = "create" if contact is None else "update"
            else:
                self._plan_contact(batch, row, contact, account, consent)

    def _plan_contact(
        self,
        batch: Batch,
        row: Row,
        contact: _Record | None,
        account: Account | None,
        consent: str | None,
    ) -> None:
        values = row.values
        changed: set[str] = set()
        if contact is None:
            row.action = "create"
            contact = self.contacts.new(email=None, lifecycle_changed_at=self.now)
            self._fill_contact(contact, values, row.custom)
            batch.new.append(contact)
            batch.transitions.append((contact, "", contact["lifecycle_stage"]))
        else:
            row.action = "update"
            before = contact["lifecycle_stage"]
            changed = self._fill_contact(contact, values, row.custom)
            if contact["lifecycle_stage"] != before:
                contact["lifecycle_changed_at"] = self.now
                changed.add("lifecycle_changed_at")
                batch.transitions.append((contact, before, contact["lifecycle_stage"]))
        batch.row_contacts.append(contact)
        if account is not None:
            if account.pk is None or contact["account_id"] != account.pk:
                batch.account_of.append((contact, account))
                changed.add("account_id")
        elif contact["account_id"] is None and contact["email"]:
            batch.link_by_domain.append(contact)
        if consent:
            batch.consents.append((contact, consent))
            if contact["email_consent"] != consent:
                contact["email_consent"] = consent
                changed.add("email_consent")
        if values.get("tags"):
            batch.tags.append((contact, values["tags"]))
        if changed and "id" in contact:
            batch.changed[contact["id"]] = contact
            batch.fields |= changed

    def _fill_contact(self, contact: _Record, values: dict[str, Any], custom: dict) -> set[str]:
        """Set the row's non-empty values; the names of the columns that changed."""
        changed: set[str] = set()
        for attr in _CONTACT_VALUES:
            value = values.get(attr)
            if value is None or value == contact[attr]:
                continue
            contact[attr] = value
            changed.add(attr)
            stamp = _BANT_STAMPS.get(attr)
            if stamp:
                contact[f"{stamp}_at"] = self.now
                contact[f"{stamp}_source"] = self.source[:100]
                changed |= {f"{stamp}_at", f"{stamp}_source"}
        # An import can mark someone as not to be contacted, never clear it: that takes a person.
        if values.get("do_not_contact") and not contact["do_not_contact"]:
            contact["do_not_contact"] = True
            changed.add("do_not_contact")
        if custom:
            merged = {**contact["custom"], **custom}
            if merged != contact["custom"]:
                contact["custom"] = merged
                changed.add("custom")
        if changed & _NAME_FIELDS or "id" not in contact:
            contact["name_key"], contact["kana_key"] = name_keys(
                contact["family_name"],
                contact["given_name"],
                contact["family_name_kana"],
                contact["given_name_kana"],
            )
            changed |= {"name_key", "kana_key"}
        return changed

    def write(self, batch: Batch) -> None:
        """Store a planned batch: a fixed number of statements, never a query per row."""
        self.accounts.save(self.now)
        if not self.cleaner.contacts:
            return
        for contact, account in batch.account_of:
            contact["account_id"] = account.pk
        self._link_by_domain(batch)
        self._insert_contacts(batch.new)
        self.contacts.update(list(batch.changed.values()), batch.fields, self.now)
        actor_id = self.job.created_by_id
        self.transitions.insert(
            [
                self.transitions.new(
                    contact_id=contact["id"],
                    from_stage=before,
                    to_stage=after,
                    occurred_at=self.now,
                    actor_id=actor_id,
                    rule="import",
                    reason=self.source[:500],
                )
                for contact, before, after in batch.transitions
            ],
            self.now,
        )
        self.consent_records.insert(
            [
                self.consent_records.new(
                    contact_id=contact["id"],
                    channel=ConsentChannel.EMAIL,
                    action=action,
                    method=ConsentMethod.IMPORT,
                    basis=self.consent_basis[:300],
                    source=self.source[:200],
                    recorded_at=self.now,
                    recorded_by_id=actor_id,
                )
                for contact, action in batch.consents
            ],
            self.now,
        )
        self._write_tags(batch.tags)

    def _insert_contacts(self, rows: list[_Record]) -> None:
        """Insert new contacts and learn their ids (by email: one query per slice)."""
        with_email = [row for row in rows if row["email"]]
        self.contacts.insert(with_email, self.now)
        ids: dict[str, int] = {}
        for part in slices([row["email"] for row in with_email]):
            live = Contact.objects.filter(LIVE, email__isnull=False, email__in=part)
            ids.update(live.values_list("email", "pk"))
        for row in with_email:
            row["id"] = ids[row["email"]]
        # Rows with a name but no email cannot be found again by value: the ORM returns their ids.
        without = [row for row in rows if not row["email"]]
        if without:
            made = Contact.objects.bulk_create([Contact(**row) for row in without])
            for row, contact in zip(without, made, strict=True):
                row["id"] = contact.pk

    def _link_by_domain(self, batch: Batch) -> None:
        """Contacts without a company join the one live account owning their email's domain."""
        wanted: dict[str, list[_Record]] = defaultdict(list)
        for contact in batch.link_by_domain:
            domain = normalize_domain(contact["email"])
            if domain not in FREE_MAIL_DOMAINS:
                wanted[domain].append(contact)
        if not wanted:
            return
        owners: dict[str, set[int]] = defaultdict(set)
        for part in slices(list(wanted)):
            for domain, account_id in AccountDomain.objects.filter(
                domain__in=part, account__deleted_at__isnull=True
            ).values_list("domain", "account_id"):
                owners[domain].add(account_id)
        for domain, contacts in wanted.items():
            if len(owners.get(domain, ())) != 1:
                continue
            (account_id,) = owners[domain]
            for contact in contacts:
                contact["account_id"] = account_id
                if "id" in contact:
                    batch.changed[contact["id"]] = contact
                    batch.fields.add("account_id")

    def _write_tags(self, tagged: list[tuple[_Record, list[str]]]) -> None:
        if not tagged:
            return
        names = sorted({name for _contact, names in tagged for name in names})
        Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
        ids: dict[str, int] = {}
        for part in slices(names):
            ids.update(Tag.objects.filter(name__in=part).values_list("name", "pk"))
        through = Contact.tags.through
        through.objects.bulk_create(
            [
                through(contact_id=contact["id"], tag_id=ids[name])
                for contact, names in tagged
                for name in names
            ],
            ignore_conflicts=True,
        )

    def display(self, row: Row) -> list[str]:
        """A row as it would be stored, one value per mapped column, for the preview."""
        shown = []
        for key in self.mapping.values():
            value = row.values.get(key)
            shown.append("" if value is None else self.fields[key].show(value))
        return shown
