"""CSV export of contact and account lists for Excel: streamed, UTF-8 BOM or CP932, formula-safe."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from tsunagari.crm.choices import (
    AbmTier,
    AccountLifecycle,
    BantBudget,
    BantTiming,
    BuyingRole,
    ConsentState,
    Industry,
    LifecycleStage,
    Prefecture,
)
from tsunagari.crm.models import Account, AccountDomain, Contact, CustomField
from tsunagari.crm.validation import format_phone

CHUNK_ROWS = 2000
# Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# (Python codec, charset for the Content-Type header)
ENCODINGS = {"utf-8": ("utf-8", "utf-8"), "cp932": ("cp932", "Shift_JIS")}


def encoding_from(value: str | None) -> str:
    """The export encoding a request asks for: "cp932" (Excel's Shift_JIS) or "utf-8"."""
    return "cp932" if (value or "").lower() in {"cp932", "sjis", "shift_jis"} else "utf-8"


def neutralise(value: Any) -> Any:
    """A cell that a spreadsheet shows as text: formula-like text gets a leading apostrophe.

    Numbers pass unchanged: they are our own integers, and no number is a formula.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns what it was given, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(header: list[str], rows: Iterable[list[Any]], *, encoding: str) -> Iterator[bytes]:
    """Encoded CSV, a few hundred rows per chunk; characters CP932 lacks become “?”."""
    codec = ENCODINGS[encoding][0]
    writer = csv.writer(_Echo())
    # The BOM tells Excel the file is UTF-8; without it Excel in Japan reads it as Shift_JIS.
    first = ("\ufeff" if codec == "utf-8" else "") + writer.writerow(
        [neutralise(cell) for cell in header]
    )
    yield first.encode(codec, errors="replace")
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([neutralise(cell) for cell in row]))
        if len(lines) == 500:
            yield "".join(lines).encode(codec, errors="replace")
            lines = []
    if lines:
        yield "".join(lines).encode(codec, errors="replace")


def csv_response(
    header: list[str], rows: Iterable[list[Any]], *, filename: str, encoding: str
) -> StreamingHttpResponse:
    """A streamed CSV download; `filename` without extension, ASCII."""
    charset = ENCODINGS[encoding][1]
    response = StreamingHttpResponse(
        csv_chunks(header, rows, encoding=encoding), content_type=f"text/csv; charset={charset}"
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


def _label(model: type, attr: str) -> str:
    return str(capfirst(model._meta.get_field(attr).verbose_name))


def _names(choices) -> dict[Any, str]:
    """Choice labels in the current language, evaluated now: the stream runs after the view."""
    return {value: str(label) for value, label in choices.choices}


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _custom_cell(value: Any, yes: str, no: str) -> Any:
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return value


def _chunks(values: QuerySet) -> Iterator[list[tuple]]:
    """Rows read with a streaming cursor, handed on in chunks so related values load per chunk."""
    chunk: list[tuple] = []
    for row in values.iterator(chunk_size=CHUNK_ROWS):
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _custom_fields(object_type: str) -> list[CustomField]:
    return list(CustomField.objects.filter(object_type=object_type, is_active=True))


_CONTACT_VALUES = (
    "pk",
    "email",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "account__name",
    "account__corporate_number",
    "department",
    "title",
    "buying_role",
    "phone",
    "lifecycle_stage",
    "email_consent",
    "do_not_contact",
    "bant_budget",
    "bant_need",
    "bant_timing",
    "owner__username",
    "created_at",
    "last_activity_at",
    "custom",
)


def contact_table(qs: QuerySet[Contact]) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of a contact export; headers are the import's field labels, so an
    exported file maps itself when imported again."""
    custom = _custom_fields(CustomField.Object.CONTACT)
    header = [
        "ID",
        _label(Contact, "email"),
        _label(Contact, "family_name"),
        _label(Contact, "given_name"),
        _label(Contact, "family_name_kana"),
        _label(Contact, "given_name_kana"),
        _label(Account, "name"),
        _label(Account, "corporate_number"),
        _label(Contact, "department"),
        _label(Contact, "title"),
        _label(Contact, "buying_role"),
        _label(Contact, "phone"),
        _label(Contact, "lifecycle_stage"),
        _("Email consent"),
        _label(Contact, "do_not_contact"),
        _label(Contact, "bant_budget"),
        _label(Contact, "bant_need"),
        _label(Contact, "bant_timing"),
        _label(Contact, "tags"),
        _label(Contact, "owner"),
        _label(Contact, "created_at"),
        _label(Contact, "last_activity_at"),
        *[field.label for field in custom],
    ]
    labels = {
        "buying_role": _names(BuyingRole),
        "lifecycle_stage": _names(LifecycleStage),
        "email_consent": _names(ConsentState),
        "bant_budget": _names(BantBudget),
        "bant_timing": _names(BantTiming),
    }
    yes, no = _("Yes"), _("No")
    return header, _contact_rows(qs, custom, labels, yes, no)


def _contact_rows(
    qs: QuerySet[Contact],
    custom: list[CustomField],
    labels: dict[str, dict[Any, str]],
    yes: str,
    no: str,
) -> Iterator[list[Any]]:
    def rows(chunk: list[tuple]) -> Iterator[list[Any]]:
        # One query for the tags of the whole chunk, never one per contact.
        tags: dict[int, list[str]] = defaultdict(list)
        through = Contact.tags.through.objects.filter(contact_id__in=[r[0] for r in chunk])
        for contact_id, name in through.order_by("tag__name").values_list(
            "contact_id", "tag__name"
        ):
            tags[contact_id].append(name)
        for r in chunk:
            v = dict(zip(_CONTACT_VALUES, r, strict=True))
            yield [
                v["pk"],
                v["email"],
                v["family_name"],
                v["given_name"],
                v["family_name_kana"],
                v["given_name_kana"],
                v["account__name"],
                v["account__corporate_number"],
                v["department"],
                v["title"],
                labels["buying_role"].get(v["buying_role"], ""),
                format_phone(v["phone"]),
                labels["lifecycle_stage"].get(v["lifecycle_stage"], ""),
                labels["email_consent"].get(v["email_consent"], ""),
                yes if v["do_not_contact"] else no,
                labels["bant_budget"].get(v["bant_budget"], ""),
                v["bant_need"],
                labels["bant_timing"].get(v["bant_timing"], ""),
                "; ".join(tags.get(v["pk"], ())),
                v["owner__username"],
                _when(v["created_at"]),
                _when(v["last_activity_at"]),
                *[_custom_cell(v["custom"].get(f.key), yes, no) for f in custom],
            ]

    for chunk in _chunks(qs.values_list(*_CONTACT_VALUES)):
        yield from rows(chunk)


_ACCOUNT_VALUES = (
    "pk",
    "name",
    "name_kana",
    "corporate_number",
    "industry",
    "employee_count",
    "annual_revenue",
    "capital",
    "prefecture",
    "address",
    "phone",
    "lifecycle",
    "abm_tier",
    "is_target",
    "owner__username",
    "created_at",
    "custom",
)


def account_table(qs: QuerySet[Account]) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of an account export (domains joined with “;”)."""
    custom = _custom_fields(CustomField.Object.ACCOUNT)
    header = [
        "ID",
        _label(Account, "name"),
        _label(Account, "name_kana"),
        _label(Account, "corporate_number"),
        _("Web/email domains"),
        _label(Account, "industry"),
        _label(Account, "employee_count"),
        _label(Account, "annual_revenue"),
        _label(Account, "capital"),
        _label(Account, "prefecture"),
        _label(Account, "address"),
        _label(Account, "phone"),
        _label(Account, "lifecycle"),
        _label(Account, "abm_tier"),
        _label(Account, "is_target"),
        _label(Account, "owner"),
        _label(Account, "created_at"),
        *[field.label for field in custom],
    ]
    labels = {
        "industry": _names(Industry),
        "prefecture": _names(Prefecture),
        "lifecycle": _names(AccountLifecycle),
        "abm_tier": _names(AbmTier),
    }
    yes, no = _("Yes"), _("No")
    return header, _account_rows(qs, custom, labels, yes, no)


def _account_rows(
    qs: QuerySet[Account],
    custom: list[CustomField],
    labels: dict[str, dict[Any, str]],
    yes: str,
    no: str,
) -> Iterator[list[Any]]:
    def rows(chunk: list[tuple]) -> Iterator[list[Any]]:
        domains: dict[int, list[str]] = defaultdict(list)
        for account_id, domain in (
            AccountDomain.objects.filter(account_id__in=[r[0] for r in chunk])
            .order_by("domain")
            .values_list("account_id", "domain")
        ):
            domains[account_id].append(domain)
        for r in chunk:
            v = dict(zip(_ACCOUNT_VALUES, r, strict=True))
            yield [
                v["pk"],
                v["name"],
                v["name_kana"],
                v["corporate_number"],
                "; ".join(domains.get(v["pk"], ())),
                labels["industry"].get(v["industry"], ""),
                v["employee_count"],
                v["annual_revenue"],
                v["capital"],
                labels["prefecture"].get(v["prefecture"], ""),
                v["address"],
                format_phone(v["phone"]),
                labels["lifecycle"].get(v["lifecycle"], ""),
                labels["abm_tier"].get(v["abm_tier"], ""),
                yes if v["is_target"] else no,
                v["owner__username"],
                _when(v["created_at"]),
                *[_custom_cell(v["custom"].get(f.key), yes, no) for f in custom],
            ]

    for chunk in _chunks(qs.values_list(*_ACCOUNT_VALUES)):
        yield from rows(chunk)
