"""Reading one row into field values and error messages, and keeping a dry run's reading."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from tsunagari.core.text import normalize_company_name, normalize_email
from tsunagari.crm.choices import ConsentAction
from tsunagari.crm.imports.fields import CONTACT, ImportField
from tsunagari.crm.imports.reading import stored_file
from tsunagari.crm.models import Account, CustomField, ImportJob

MEMO_SIZE = 50_000  # distinct values remembered per column while reading a file


@dataclass(slots=True)
class Row:
    number: int
    cells: list[str]
    values: dict[str, Any]
    custom: dict[str, Any]
    errors: list[str]
    action: str = ""  # "create", "update" or "error", once planned
    account: Account | None = None


def _clean_cell(spec: ImportField, raw: str) -> tuple[Any, list[str]]:
    """(value, []) or (None, messages); the values are shared between rows, never changed."""
    try:
        return spec.clean(raw), []
    except ValidationError as exc:
        prefix = f"{spec.label}: " if spec.labelled_errors else ""
        return None, [prefix + message for message in exc.messages]


class Cleaner:
    """Turns the cells of a row into field values and per-row error messages."""

    def __init__(
        self,
        *,
        object_type: str,
        fields: dict[str, ImportField],
        headers: list[str],
        mapping: dict[str, str],
        consent_basis: str,
    ) -> None:
        index = {header: i for i, header in enumerate(headers)}
        # Company columns repeat on every row of the same company: each distinct cell is read
        # once. Email addresses are unique, so remembering them would only cost memory.
        self.columns = sorted(
            (
                (index[header], fields[key], None if key == "email" else {})
                for header, key in mapping.items()
            ),
            key=lambda column: column[0],
        )
        self.contacts = object_type == CONTACT
        self.prefix = "account." if self.contacts else ""
        self.email_column = next(
            (i for i, spec, _memo in self.columns if spec.key == "email"), None
        )
        self.consent_basis = consent_basis.strip()
        self.first_row_of_email: dict[str, int] = {}
        self.name_keys: dict[str, str] = {}

    def note(self, number: int, cells: list[str]) -> int:
        """Remember the row's email for duplicate detection; the row the address first appeared."""
        if self.email_column is None:
            return number
        email = normalize_email(cells[self.email_column])
        if not email:
            return number
        return self.first_row_of_email.setdefault(email, number)

    def clean(self, number: int, cells: list[str]) -> Row:
        values: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        errors: list[str] = []
        for index, spec, memo in self.columns:
            raw = cells[index]
            if not raw or raw.isspace():
                continue  # an empty cell means "no value", never "erase"
            outcome = memo.get(raw) if memo is not None else None
            if outcome is None:
                outcome = _clean_cell(spec, raw)
                if memo is not None and len(memo) < MEMO_SIZE:
                    memo[raw] = outcome
            value, messages = outcome
            if messages:
                errors.extend(messages)
                continue
            if value is None or value == "" or value == []:
                continue
            if spec.group == "custom":
                custom[spec.key[7:]] = value
            values[spec.key] = value
        first = self.note(number, cells)
        if first != number:
            errors.append(_("Duplicate of row %(row)s (same email address).") % {"row": first})
        name = values.get(self.prefix + "name")
        if name:
            if name not in self.name_keys:
                self.name_keys[name] = normalize_company_name(name)
            values[self.prefix + "name_key"] = self.name_keys[name]
        if self.contacts:
            self._contact_rules(values, errors)
        elif not values.keys() & {"name", "corporate_number", "domain"}:
            errors.append(_("The row has no company name, corporate number or domain."))
        return Row(number, cells, values, custom, errors)

    def _contact_rules(self, values: dict[str, Any], errors: list[str]) -> None:
        if "full_name" in values:
            family, given = values["full_name"]
            if family and "family_name" not in values:
                values["family_name"] = family
            if given and "given_name" not in values:
                values["given_name"] = given
        if not values.keys() & {"email", "family_name", "given_name"}:
            errors.append(_("The row has neither an email address nor a name."))
        if values.get("email_consent") == ConsentAction.OPT_IN and not self.consent_basis:
            errors.append(
                _(
                    "Opt-in by import needs a consent basis (how and when these people agreed); "
                    "enter it above the preview."
                )
            )


def fingerprint(job: ImportJob, mapping: dict[str, str], consent_basis: str) -> str:
    """What the reading of a row depends on besides the file: mapping, basis, custom fields."""
    custom = list(
        CustomField.objects.filter(object_type=job.object_type, is_active=True)
        .order_by("key")
        .values_list("key", "field_type", "choices", "required")
    )
    blob = json.dumps([job.stored_path, mapping, consent_basis, custom], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class CheckedRows:
    """The dry run's reading of every row, kept beside the upload for the import to reuse.

    Reading a row (above all parsing phone numbers and email addresses) is most of an import's
    work; a dry run with the same fingerprint has already done it. JSON lines, never pickle.
    """

    def __init__(self, job: ImportJob, fingerprint: str) -> None:
        self.path = stored_file(job).with_suffix(".checked")
        self.partial = self.path.with_suffix(".partial")
        self.handle = self.partial.open("w", encoding="utf-8")
        self.handle.write(fingerprint + "\n")

    # One encoder for all rows: json.dumps with options builds a new one on every call.
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def add(self, row: Row) -> None:
        line = self.encoder.encode([row.number, row.values, row.custom, row.errors])
        self.handle.write(line + "\n")

    def close(self) -> None:
        """Publish the file, only once every row is in it."""
        self.handle.close()
        self.partial.replace(self.path)

    def abandon(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)

    @staticmethod
    def read(job: ImportJob, fingerprint: str) -> Iterator[Row] | None:
        path = stored_file(job).with_suffix(".checked")
        try:
            handle = path.open(encoding="utf-8")
        except FileNotFoundError:
            return None
        if handle.readline().strip() != fingerprint:
            handle.close()
            return None

        def rows() -> Iterator[Row]:
            with handle:
                for line in handle:
                    number, values, custom, errors = json.loads(line)
                    yield Row(number, [], values, custom, errors)

        return rows()

    @staticmethod
    def discard(job: ImportJob) -> None:
        stored_file(job).with_suffix(".checked").unlink(missing_ok=True)
