"""CSV import of contacts and accounts: read, map columns, dry-run, then upsert in batches.

An ImportJob is uploaded (file kept, encoding and delimiter detected, rows counted), mapped and
previewed without writing anything, then started and run by the worker batch by batch. Each
batch is one transaction that also advances job.rows_done, so a crash loses only the batch in
flight, and a retry resumes after the last committed row without writing any row twice.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import re
import time
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tsunagari.core.models import User
from tsunagari.core.roles import Capability
from tsunagari.core.text import normalize_company_name, normalize_domain, normalize_email
from tsunagari.crm.choices import (
    PREFECTURE_NAMES_JA,
    BantBudget,
    BantTiming,
    BuyingRole,
    ConsentAction,
    ConsentChannel,
    ConsentMethod,
    ConsentState,
    Industry,
    LifecycleStage,
    Prefecture,
)
from tsunagari.crm.models import (
    LIVE,
    Account,
    AccountDomain,
    ConsentRecord,
    Contact,
    CustomField,
    ImportJob,
    ImportMappingMemory,
    LifecycleTransition,
    Tag,
)
from tsunagari.crm.services import CrmError, name_keys
from tsunagari.crm.validation import (
    FREE_MAIL_DOMAINS,
    clean_corporate_number_field,
    clean_custom_value,
    clean_email,
    clean_integer,
    clean_phone,
)
from tsunagari.work.claims import claim_one, due

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
LEASE = timedelta(minutes=10)
# The shared worker runs other kinds of work too: a long import yields after this long.
WORKER_SLICE_SECONDS = 20.0
MAX_STORED_ERRORS = 1000
MEMO_SIZE = 50_000  # distinct values remembered per column while reading a file
# SQLite's historical limit on parameters in one statement; lookups by value go in slices.
IN_SLICE = 900
# While an import runs on SQLite, the write-ahead log is copied into the database after about
# this many pages (4 KiB each) instead of SQLite's default 1,000.
WAL_CHECKPOINT_PAGES = 25_000
PREVIEW_SAMPLE_ROWS = 20
PREVIEW_ERROR_ROWS = 200

CONTACT = CustomField.Object.CONTACT
ACCOUNT = CustomField.Object.ACCOUNT
ACTIVE_STATUSES = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)


class ImportFileError(CrmError):
    """The uploaded file cannot be imported; the message says why and what to do."""


class _Stopped(Exception):
    """The job was cancelled or taken over by another worker: stop without writing."""


# ---------------------------------------------------------------------------------------------
# Reading the file


def _decode(data: bytes) -> tuple[str, str]:
    """(encoding, text): UTF-8 with BOM, else strict UTF-8, else strict CP932 (Excel in Japan)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            _(
                "This file is UTF-16 (Excel's “Unicode text”). Save it as “CSV UTF-8” or “CSV” "
                "and upload it again."
            )
        )
    candidates = ("utf-8-sig",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "cp932")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # NUL never appears in text: this is a binary file or UTF-16 without its BOM.
        if "\x00" in text:
            break
        return encoding, text
    raise ImportFileError(_("Cannot read the file: save it as UTF-8 or Shift_JIS (CSV)."))


def _delimiter(text: str) -> str:
    """Tab or comma, whichever the header line has more of (csv.Sniffer guesses wrong too often)."""
    header = text.split("\n", 1)[0]
    return "\t" if header.count("\t") > header.count(",") else ","


def _parse(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, the header being row 1, cells) of every record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for cells in reader:
            number += 1
            yield number, cells
    except csv.Error as exc:
        raise ImportFileError(
            _("Row %(row)s cannot be read (%(error)s). Is a double quote missing?")
            % {"row": number + 1, "error": exc}
        ) from None


def _blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _headers(cells: list[str]) -> list[str]:
    """Column names, made unique and never empty so that a mapping can name each column."""
    headers: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = cell.replace("\ufeff", "").strip() or _("Column %(number)s") % {"number": index}
        unique, n = name, 2
        while unique in headers:
            unique, n = f"{name} ({n})", n + 1
        headers.append(unique)
    return headers


def _inspect(text: str, delimiter: str) -> tuple[list[str], int]:
    """(headers, number of data rows); ImportFileError for an empty or ragged file."""
    rows = _parse(text, delimiter)
    first = next(rows, None)
    if first is None:
        raise ImportFileError(_("The file is empty."))
    if _blank(first[1]):
        raise ImportFileError(_("The first row must hold the column names, and it is empty."))
    headers = _headers(first[1])
    width = len(headers)
    count, ragged = 0, []
    for number, cells in rows:
        if _blank(cells):
            continue
        count += 1
        # Trailing empty cells past the last column are harmless (Excel writes them).
        if len(cells) > width and not _blank(cells[width:]):
            ragged.append(number)
    if ragged:
        raise ImportFileError(
            _(
                "%(count)s rows have more values than there are column names (rows %(rows)s). "
                "A value containing a comma or a line break must be in double quotes."
            )
            % {"count": len(ragged), "rows": ", ".join(str(n) for n in ragged[:10])}
        )
    if count == 0:
        raise ImportFileError(_("The file has column names but no rows."))
    return headers, count


def _stored(job: ImportJob) -> Path:
    return Path(settings.UPLOAD_DIR) / job.stored_path


def _job_rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    """The job's data rows in file order (blank rows left out), each as wide as the header."""
    try:
        data = _stored(job).read_bytes()
    except FileNotFoundError:
        raise CrmError(_("The uploaded file is no longer there; upload it again.")) from None
    width = len(job.headers)
    rows = _parse(data.decode(job.encoding), job.delimiter)
    next(rows, None)
    for number, cells in rows:
        if _blank(cells):
            continue
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        yield number, cells[:width]


def import_sample(*, job: ImportJob, rows: int = 3) -> list[list[str]]:
    """The first few data rows, for the mapping page; reads only the start of the file."""
    with _stored(job).open("rb") as handle:
        head = handle.read(256 * 1024)
        final = len(head) < 256 * 1024
    decoder = codecs.getincrementaldecoder(job.encoding)(errors="replace")
    sample: list[list[str]] = []
    parsed = _parse(decoder.decode(head, final=final), job.delimiter)
    next(parsed, None)
    for _number, cells in parsed:
        if not _blank(cells):
            sample.append(cells + [""] * (len(job.headers) - len(cells)))
        if len(sample) == rows:
            break
    return sample


# ---------------------------------------------------------------------------------------------
# The fields a column can be mapped to, and how each cell is read


@dataclass(frozen=True)
class ImportField:
    key: str  # "email", "account.name", "custom.<key>"
    label: Any  # a lazy translated label
    group: str  # CONTACT, ACCOUNT or "custom"
    clean: Callable[[str], Any]  # raises ValidationError; None means "no value"
    show: Callable[[Any], str] = str
    # Custom-field messages already name their field.
    labelled_errors: bool = True


_MATCH_JUNK = re.compile(r"[\s_\-・()\[\]「」【】:/.,、〜~*※]+")


def _match_key(value: str) -> str:
    """How headers and choice values are compared: NFKC, case-folded, punctuation removed."""
    return _MATCH_JUNK.sub("", unicodedata.normalize("NFKC", value).casefold())


def _clip(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _choice_lookup(choices: type[models.Choices], extra: dict[str, str]) -> dict[str, str]:
    """Every spelling of a choice people write: its code, its label in English and Japanese."""
    lookup: dict[str, str] = {}
    for language in ("en", "ja"):
        with translation.override(language):
            for value, label in choices.choices:
                lookup[_match_key(str(label))] = value
    for value in choices.values:
        lookup[_match_key(str(value))] = value
    for word, value in extra.items():
        lookup[_match_key(word)] = value
    return lookup


def _words(table: dict[str, str]) -> dict[str, str]:
    """{word: code} from {code: "space-separated words"}."""
    return {word: code for code, words in table.items() for word in words.split()}


# Spellings people use for the choices, besides each code and its English and Japanese label.
_STAGE_WORDS = _words(
    {
        "subscriber": "購読者",
        "lead": "リード 見込み客",
        "opportunity": "商談 商談中",
        "customer": "顧客 既存顧客 受注",
        "nurture": "ナーチャリング 育成 失注",
        "disqualified": "対象外",
    }
)
_ROLE_WORDS = _words(
    {
        "decision_maker": "決裁者 意思決定者",
        "influencer": "影響者 推進者",
        "user": "利用者 ユーザー",
        "gatekeeper": "窓口 ゲートキーパー",
    }
)
_BUDGET_WORDS = _words(
    {
        "none": "なし 予算なし",
        "under_1m": "100万円未満",
        "1m_5m": "100万〜500万円 100万円〜500万円",
        "5m_10m": "500万〜1000万円 500万円〜1000万円",
        "over_10m": "1000万円以上",
    }
)
_TIMING_WORDS = _words(
    {
        "3m": "3ヶ月以内 3か月以内 3カ月以内 3ケ月以内",
        "6m": "6ヶ月以内 6か月以内 6カ月以内 6ケ月以内 半年以内",
        "1y": "1年以内",
        "undecided": "未定",
    }
)
# Names of the Japan Standard Industrial Classification as people write them.
_INDUSTRY_WORDS = _words(
    {
        "agriculture": "農業 林業 漁業 農業,林業",
        "mining": "鉱業 建設業 建設",
        "manufacturing": "製造業 製造 メーカー",
        "utilities": "電気・ガス・熱供給・水道業",
        "it": "情報通信業 情報通信 IT ソフトウェア",
        "transport": "運輸業 運輸業,郵便業 物流",
        "trade": "卸売業 小売業 卸売業,小売業 商社",
        "finance": "金融業 保険業 金融業,保険業 金融",
        "real_estate": "不動産業 不動産業,物品賃貸業 不動産",
        "professional": "学術研究,専門・技術サービス業 専門サービス",
        "hospitality": "宿泊業 飲食サービス業 宿泊業,飲食サービス業",
        "education": "教育 教育,学習支援業",
        "medical": "医療 福祉 医療,福祉",
        "services": "サービス業 サービス業(他に分類されないもの)",
        "public": "公務 官公庁",
    }
)


def _prefecture_words() -> dict[str, str]:
    words: dict[str, str] = {}
    for index, name in enumerate(PREFECTURE_NAMES_JA, start=1):
        code = f"{index:02d}"
        words[name] = code
        words[str(index)] = code
        if name != "北海道":
            words[name[:-1]] = code  # 東京都 → 東京, 大阪府 → 大阪
    return words


_TRUE_WORDS = {_match_key(w) for w in ("1", "true", "yes", "y", "on", "はい", "○", "◯", "有")}
_FALSE_WORDS = {_match_key(w) for w in ("0", "false", "no", "n", "off", "いいえ", "×", "無")}
_OPT_IN_WORDS = {_match_key(w) for w in ("opt_in", "同意", "同意あり", "許諾", "可")}
_OPT_OUT_WORDS = {_match_key(w) for w in ("opt_out", "拒否", "不可", "配信停止", "配信不可")}


def _choice(label: Any, choices: type[models.Choices], extra: dict[str, str]) -> ImportField:
    lookup = _choice_lookup(choices, extra)
    names = dict(choices.choices)

    def clean(raw: str) -> str:
        try:
            return lookup[_match_key(raw)]
        except KeyError:
            raise ValidationError(
                _("“%(value)s” is not one of the choices.") % {"value": _clip(raw.strip())}
            ) from None

    return ImportField("", label, "", clean, show=lambda value: str(names[value]))


def _text(model: type[models.Model], attr: str, *, fold: bool = False) -> ImportField:
    limit = model._meta.get_field(attr).max_length

    def clean(raw: str) -> str:
        # Kana columns from older systems are often half-width (ｶﾅ); NFKC makes them full-width.
        value = unicodedata.normalize("NFKC", raw).strip() if fold else raw.strip()
        if len(value) > limit:
            raise ValidationError(
                _("%(length)s characters; at most %(limit)s fit.")
                % {"length": len(value), "limit": limit}
            )
        return value

    return ImportField("", _label(model, attr), "", clean)


def _label(model: type[models.Model], attr: str) -> Any:
    return capfirst(model._meta.get_field(attr).verbose_name)


def _integer(model: type[models.Model], attr: str) -> ImportField:
    maximum = 2_147_483_647 if attr == "employee_count" else 9_000_000_000_000_000

    def clean(raw: str) -> int | None:
        number = clean_integer(raw)
        if number is not None and number > maximum:
            raise ValidationError(_("%(value)s is too large.") % {"value": number})
        return number

    return ImportField("", _label(model, attr), "", clean)


def _boolean(raw: str) -> bool:
    word = _match_key(raw)
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValidationError(_("“%(value)s” is not yes or no.") % {"value": _clip(raw.strip())})


def _consent_cleaner() -> Callable[[str], str | None]:
    lookup = {word: ConsentAction.OPT_IN for word in _OPT_IN_WORDS | _TRUE_WORDS}
    lookup.update({word: ConsentAction.OPT_OUT for word in _OPT_OUT_WORDS | _FALSE_WORDS})
    # The labels our own export writes, so that an exported list can be imported back.
    for language in ("en", "ja"):
        with translation.override(language):
            lookup[_match_key(str(ConsentState.OPT_IN.label))] = ConsentAction.OPT_IN
            lookup[_match_key(str(ConsentState.OPT_OUT.label))] = ConsentAction.OPT_OUT
            lookup[_match_key(str(ConsentState.UNKNOWN.label))] = ""

    def clean(raw: str) -> str | None:
        try:
            return lookup[_match_key(raw)] or None
        except KeyError:
            raise ValidationError(
                _("“%(value)s” is neither opt-in nor opt-out.") % {"value": _clip(raw.strip())}
            ) from None

    return clean


_LIST_SPLIT = re.compile(r"[;；、]")
_DOMAIN = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}")


def _tags(raw: str) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in _LIST_SPLIT.split(raw) if name.strip()))
    too_long = [name for name in names if len(name) > Tag._meta.get_field("name").max_length]
    if too_long:
        raise ValidationError(
            _("“%(value)s” is longer than 60 characters.") % {"value": _clip(too_long[0])}
        )
    return names


def _domains(raw: str) -> list[str]:
    domains = []
    for part in re.split(r"[;；、,\s]+", raw):
        if not part:
            continue
        domain = normalize_domain(part)
        if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
            raise ValidationError(
                _("“%(value)s” is not a web domain (like example.co.jp).") % {"value": _clip(part)}
            )
        domains.append(domain)
    return list(dict.fromkeys(domains))


def _full_name(raw: str) -> tuple[str, str]:
    # Japanese order: family name first, split at the first (half- or full-width) space.
    parts = re.split(r"[\s\u3000]+", raw.strip(), maxsplit=1)
    family, given = parts[0], parts[1] if len(parts) > 1 else ""
    limit = Contact._meta.get_field("family_name").max_length
    if max(len(family), len(given)) > limit:
        raise ValidationError(
            _("a name part is longer than %(limit)s characters.") % {"limit": limit}
        )
    return family, given


def _show_bool(value: bool) -> str:
    return _("Yes") if value else _("No")


def _show_list(value: list[str]) -> str:
    return "; ".join(value)


def _with(spec: ImportField, key: str, group: str) -> ImportField:
    return ImportField(key, spec.label, group, spec.clean, spec.show, spec.labelled_errors)


def _account_fields(prefix: str, group: str) -> list[ImportField]:
    specs = {
        "name": _text(Account, "name"),
        "name_kana": _text(Account, "name_kana", fold=True),
        "corporate_number": ImportField(
            "", _label(Account, "corporate_number"), "", clean_corporate_number_field
        ),
        "domain": ImportField("", gettext_lazy("Web/email domains"), "", _domains, show=_show_list),
        "industry": _choice(_label(Account, "industry"), Industry, _INDUSTRY_WORDS),
        "employee_count": _integer(Account, "employee_count"),
        "annual_revenue": _integer(Account, "annual_revenue"),
        "capital": _integer(Account, "capital"),
        "prefecture": _choice(_label(Account, "prefecture"), Prefecture, _prefecture_words()),
        "address": _text(Account, "address"),
        "phone": ImportField("", _label(Account, "phone"), "", clean_phone),
    }
    return [_with(spec, prefix + attr, group) for attr, spec in specs.items()]


def import_fields(object_type: str) -> dict[str, ImportField]:
    """Every field a column of this kind of file can be mapped to, by key, in display order."""
    fields: list[ImportField] = []
    if object_type == CONTACT:
        specs = {
            "email": ImportField("", _label(Contact, "email"), "", clean_email),
            "family_name": _text(Contact, "family_name"),
            "given_name": _text(Contact, "given_name"),
            "family_name_kana": _text(Contact, "family_name_kana", fold=True),
            "given_name_kana": _text(Contact, "given_name_kana", fold=True),
            "full_name": ImportField(
                "",
                gettext_lazy("Full name (family name first)"),
                "",
                _full_name,
                show=" ".join,
            ),
            "title": _text(Contact, "title"),
            "department": _text(Contact, "department"),
            "buying_role": _choice(_label(Contact, "buying_role"), BuyingRole, _ROLE_WORDS),
            "phone": ImportField("", _label(Contact, "phone"), "", clean_phone),
            "lifecycle_stage": _choice(
                _label(Contact, "lifecycle_stage"), LifecycleStage, _STAGE_WORDS
            ),
            "tags": ImportField(
                "", gettext_lazy("Tags (separated by ; or 、)"), "", _tags, show=_show_list
            ),
            "do_not_contact": ImportField(
                "", _label(Contact, "do_not_contact"), "", _boolean, show=_show_bool
            ),
            "email_consent": ImportField("", gettext_lazy("Email consent"), "", _consent_cleaner()),
            "bant_budget": _choice(_label(Contact, "bant_budget"), BantBudget, _BUDGET_WORDS),
            "bant_need": _text(Contact, "bant_need"),
            "bant_timing": _choice(_label(Contact, "bant_timing"), BantTiming, _TIMING_WORDS),
        }
        fields += [_with(spec, key, CONTACT) for key, spec in specs.items()]
        fields += _account_fields("account.", ACCOUNT)
    else:
        fields += _account_fields("", ACCOUNT)
    for custom in CustomField.objects.filter(object_type=object_type, is_active=True):
        fields.append(
            ImportField(
                f"custom.{custom.key}",
                custom.label,
                "custom",
                lambda raw, custom=custom: clean_custom_value(custom, raw),
                show=lambda value: _show_list(value) if isinstance(value, list) else str(value),
                labelled_errors=False,
            )
        )
    return {spec.key: spec for spec in fields}


# ---------------------------------------------------------------------------------------------
# Mapping columns to fields

# Header spellings seen in Japanese and English files (compared after _match_key).
_CONTACT_SYNONYMS = {
    "email": "email mail emailaddress mailaddress メールアドレス メール eメール eメールアドレス "
    "電子メール 電子メールアドレス",
    "family_name": "familyname lastname surname 姓 氏 苗字 名字",
    "given_name": "givenname firstname 名",
    "family_name_kana": "セイ せい 姓カナ 姓フリガナ 姓ふりがな フリガナ姓 familynamekana "
    "lastnamekana",
    "given_name_kana": "メイ めい 名カナ 名フリガナ 名ふりがな フリガナ名 givennamekana "
    "firstnamekana",
    "full_name": "氏名 名前 お名前 担当者名 fullname name",
    "title": "役職 役職名 肩書 肩書き title jobtitle position",
    "department": "部署 部署名 部門 所属 department division",
    "phone": "電話 電話番号 tel phone phonenumber telephone 直通電話",
    "lifecycle_stage": "ライフサイクル ライフサイクルステージ ステージ lifecyclestage stage",
    "buying_role": "buyingrole 購買役割 役割",
    "tags": "tags tag タグ",
    "do_not_contact": "donotcontact 連絡不可 連絡禁止",
    "email_consent": "emailconsent consent optin メール配信許諾 配信許諾 メール配信 オプトイン",
    "bant_budget": "budget 予算",
    "bant_need": "need ニーズ 課題",
    "bant_timing": "timing 導入時期 検討時期",
}
_ACCOUNT_SYNONYMS = {
    "name": "会社名 企業名 社名 会社 法人名 company companyname organization account accountname",
    "name_kana": "会社名カナ 会社名フリガナ 企業名カナ 社名カナ companykana",
    "corporate_number": "法人番号 corporatenumber",
    "domain": "ドメイン domain website url ホームページ webサイト ウェブサイト hp",
    "industry": "業種 業界 industry",
    "prefecture": "都道府県 prefecture",
    "employee_count": "従業員数 社員数 employees employeecount numberofemployees",
    "annual_revenue": "売上高 売上 年商 annualrevenue revenue",
    "capital": "資本金 capital",
    "address": "住所 所在地 address",
    "phone": "代表電話 代表電話番号 会社電話番号 companyphone",
}


def _synonyms(object_type: str, fields: dict[str, ImportField]) -> dict[str, str]:
    table: dict[str, str] = {}
    if object_type == CONTACT:
        words = dict(_CONTACT_SYNONYMS)
        words.update({f"account.{key}": names for key, names in _ACCOUNT_SYNONYMS.items()})
    else:
        words = dict(_ACCOUNT_SYNONYMS)
        words["name"] += " name 名称"
        words["phone"] += " " + _CONTACT_SYNONYMS["phone"]
    for key, names in words.items():
        for name in names.split():
            table.setdefault(_match_key(name), key)
    # Field labels in both languages, so that our own exports map back by themselves.
    for language in ("en", "ja"):
        with translation.override(language):
            for key, spec in fields.items():
                table.setdefault(_match_key(str(spec.label)), key)
                if key.startswith("custom."):
                    table.setdefault(_match_key(key[7:]), key)
    return table


def header_signature(headers: list[str]) -> str:
    """Which mapping memory a file's headers recall: sha256 of the normalised header list."""
    joined = "\n".join(_match_key(header) for header in headers)
    return hashlib.sha256(joined.encode()).hexdigest()


def suggest_mapping(*, object_type: str, headers: list[str]) -> dict[str, str]:
    """The mapping last used for these headers, else one guessed from the header names."""
    fields = import_fields(object_type)
    remembered = (
        ImportMappingMemory.objects.filter(
            object_type=object_type, header_signature=header_signature(headers)
        )
        .values_list("mapping", flat=True)
        .first()
    )
    if remembered:
        usable = {h: k for h, k in remembered.items() if h in headers and k in fields}
        if usable:
            return usable
    table = _synonyms(object_type, fields)
    mapping: dict[str, str] = {}
    for header in headers:
        key = table.get(_match_key(header))
        if key and key not in mapping.values():
            mapping[header] = key
    return mapping


def _checked_mapping(
    job: ImportJob, mapping: dict[str, str], fields: dict[str, ImportField]
) -> dict[str, str]:
    checked: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for header in job.headers:
        key = mapping.get(header) or ""
        if not key:
            continue
        if key not in fields:
            raise CrmError(_("“%(field)s” is not a field you can import into.") % {"field": key})
        if key in by_key:
            raise CrmError(
                _("Columns “%(first)s” and “%(second)s” both go to “%(field)s”; choose one.")
                % {"first": by_key[key], "second": header, "field": fields[key].label}
            )
        by_key[key] = header
        checked[header] = key
    unknown = set(mapping) - set(job.headers)
    if unknown:
        raise CrmError(_("The file has no column “%(column)s”.") % {"column": sorted(unknown)[0]})
    if job.object_type == CONTACT and not by_key.keys() & {
        "email",
        "family_name",
        "given_name",
        "full_name",
    }:
        raise CrmError(_("Map a column to the email address or to the name."))
    if job.object_type == ACCOUNT and not by_key.keys() & {"name", "corporate_number", "domain"}:
        raise CrmError(_("Map a column to the company name, the corporate number or the domain."))
    return checked


# ---------------------------------------------------------------------------------------------
# Reading one row


@dataclass(slots=True)
class _Row:
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


class _Cleaner:
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

    def clean(self, number: int, cells: list[str]) -> _Row:
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
        return _Row(number, cells, values, custom, errors)

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


# ---------------------------------------------------------------------------------------------
# Accounts: found by 法人番号, then domain, then normalised name; cached for the whole job

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


class _Accounts:
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
        for part in _slices(sorted(numbers - self.by_number.keys())):
            for account in Account.objects.filter(corporate_number__in=part):
                self.by_number[account.corporate_number] = self._adopt(account)
            for number in part:
                self.by_number.setdefault(number, None)
        for part in _slices(sorted(domains - self.by_domain.keys())):
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
        for part in _slices(sorted(names - self.names_loaded)):
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


# ---------------------------------------------------------------------------------------------
# Writing many rows at once


def _adapter(field: models.Field) -> Callable[[Any], Any] | None:
    """How a column's Python value becomes a query parameter as the ORM would make it; None
    when the value passes as it is (text, numbers, booleans, ids)."""
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        # Nearly every datetime of a batch is the batch's "now": convert it once.
        last: list[Any] = [None, None]

        def adapt(value: Any) -> Any:
            if value is not last[0]:
                last[:] = [value, None if value is None else ops.adapt_datetimefield_value(value)]
            return last[1]

        return adapt
    if isinstance(field, models.JSONField):
        # Most rows have no custom values: their empty object is converted once.
        empty = field.get_db_prep_save({}, connection)
        return lambda value: empty if value == {} else field.get_db_prep_save(value, connection)
    plain = models.CharField | models.TextField | models.BooleanField | models.IntegerField
    if isinstance(field, plain) or (
        isinstance(field, models.ForeignKey) and isinstance(field.target_field, models.AutoField)
    ):
        return None
    return lambda value: field.get_db_prep_save(value, connection)


class _Table:
    """Plain rows of one model written with a single executemany.

    Why not bulk_create: its per-value work on a 40-column contact costs ten times what the
    database spends storing the row, and an import writes hundreds of thousands of them.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.adapters = {f.attname: _adapter(f) for f in self.fields}
        # Callable defaults (custom=dict) give each row its own value.
        self.fresh = [f for f in self.fields if f.has_default() and callable(f.default)]
        self.defaults = {f.attname: f.get_default() for f in self.fields if f not in self.fresh}
        self.stamped = [
            f.attname
            for f in self.fields
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.columns = ", ".join(quote(f.column) for f in self.fields)

    def new(self, **values: Any) -> dict[str, Any]:
        """A row with the model's defaults, by attribute name (account_id, not account)."""
        row = dict(self.defaults)
        for f in self.fresh:
            row[f.attname] = f.get_default()
        row.update(values)
        return row

    def insert(self, rows: list[dict[str, Any]], now: datetime) -> None:
        if not rows:
            return
        for row in rows:
            for name in self.stamped:
                row[name] = now
        names = [f.attname for f in self.fields]
        pick = itemgetter(*names)
        adapted = [(i, self.adapters[name]) for i, name in enumerate(names) if self.adapters[name]]
        params = []
        for row in rows:
            values = list(pick(row))
            for i, adapt in adapted:
                values[i] = adapt(values[i])
            params.append(values)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY is PostgreSQL's bulk-load path; executemany would be a statement per row.
                copy_sql = f"COPY {self.table} ({self.columns}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for values in params:
                        copy.write_row(values)
                return
            # One prepared statement stepped once per row: SQLite's fastest way in.
            marks = ", ".join(["%s"] * len(names))
            cursor.executemany(
                f"INSERT INTO {self.table} ({self.columns}) VALUES ({marks})", params
            )

    def update(self, rows: list[dict[str, Any]], names: set[str], now: datetime) -> None:
        """Write the named columns of existing rows (each row holds its "id")."""
        if not rows:
            return
        names = names | {f.attname for f in self.fields if getattr(f, "auto_now", False)}
        for row in rows:
            for name in self.stamped:
                if name in names:
                    row[name] = now
        ordered = sorted(names)
        quote = connection.ops.quote_name
        columns = {f.attname: f.column for f in self.fields}
        assignments = ", ".join(f"{quote(columns[name])} = %s" for name in ordered)
        adapters = [self.adapters[name] or (lambda value: value) for name in ordered]
        params = [
            [adapt(row[name]) for name, adapt in zip(ordered, adapters, strict=True)] + [row["id"]]
            for row in rows
        ]
        with connection.cursor() as cursor:
            pk = quote(self.model._meta.pk.column)
            cursor.executemany(f"UPDATE {self.table} SET {assignments} WHERE {pk} = %s", params)


def _slices(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), IN_SLICE):
        yield items[start : start + IN_SLICE]


# ---------------------------------------------------------------------------------------------
# Planning a batch (reads only) and writing it

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


def _fingerprint(job: ImportJob, mapping: dict[str, str], consent_basis: str) -> str:
    """What the reading of a row depends on besides the file: mapping, basis, custom fields."""
    custom = list(
        CustomField.objects.filter(object_type=job.object_type, is_active=True)
        .order_by("key")
        .values_list("key", "field_type", "choices", "required")
    )
    blob = json.dumps([job.stored_path, mapping, consent_basis, custom], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class _CheckedRows:
    """The dry run's reading of every row, kept beside the upload for the import to reuse.

    Reading a row (above all parsing phone numbers and email addresses) is most of an import's
    work; a dry run with the same fingerprint has already done it. JSON lines, never pickle.
    """

    def __init__(self, job: ImportJob, fingerprint: str) -> None:
        self.path = _stored(job).with_suffix(".checked")
        self.partial = self.path.with_suffix(".partial")
        self.handle = self.partial.open("w", encoding="utf-8")
        self.handle.write(fingerprint + "\n")

    # One encoder for all rows: json.dumps with options builds a new one on every call.
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def add(self, row: _Row) -> None:
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
    def read(job: ImportJob, fingerprint: str) -> Iterator[_Row] | None:
        path = _stored(job).with_suffix(".checked")
        try:
            handle = path.open(encoding="utf-8")
        except FileNotFoundError:
            return None
        if handle.readline().strip() != fingerprint:
            handle.close()
            return None

        def rows() -> Iterator[_Row]:
            with handle:
                for line in handle:
                    number, values, custom, errors = json.loads(line)
                    yield _Row(number, [], values, custom, errors)

        return rows()

    @staticmethod
    def discard(job: ImportJob) -> None:
        _stored(job).with_suffix(".checked").unlink(missing_ok=True)


@dataclass
class _Batch:
    rows: list[_Row]
    new: list[_Record] = field(default_factory=list)  # contacts to insert
    changed: dict[int, _Record] = field(default_factory=dict)  # existing contacts, by id
    fields: set[str] = field(default_factory=set)  # columns changed on existing contacts
    account_of: list[tuple[_Record, Account]] = field(default_factory=list)
    link_by_domain: list[_Record] = field(default_factory=list)
    transitions: list[tuple[_Record, str, str]] = field(default_factory=list)
    consents: list[tuple[_Record, str]] = field(default_factory=list)
    tags: list[tuple[_Record, list[str]]] = field(default_factory=list)


class _Run:
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
        self.cleaner = _Cleaner(
            object_type=job.object_type,
            fields=self.fields,
            headers=job.headers,
            mapping=mapping,
            consent_basis=consent_basis,
        )
        self.consent_basis = consent_basis.strip()
        self.fingerprint = _fingerprint(job, mapping, self.consent_basis)
        self.accounts = _Accounts()
        self.source = f"import: {job.file_name}"
        self.now = timezone.now()
        self.contacts = _Table(Contact)
        self.transitions = _Table(LifecycleTransition)
        self.consent_records = _Table(ConsentRecord)

    def rows(self, *, skip: int = 0, record: _CheckedRows | None = None) -> Iterator[_Row]:
        """Cleaned rows after the first `skip` (whose emails still count for duplicates).

        The import reads them back from its dry run when that saw the same mapping; a dry run
        given `record` keeps them there.
        """
        if self.writing:
            kept = _CheckedRows.read(self.job, self.fingerprint)
            if kept is not None:
                yield from islice(kept, skip, None)
                return
        rows = _job_rows(self.job)
        for number, cells in islice(rows, skip):
            self.cleaner.note(number, cells)
        for number, cells in rows:
            row = self.cleaner.clean(number, cells)
            if record is not None:
                record.add(row)
            yield row

    def batches(self, *, skip: int = 0, record: _CheckedRows | None = None) -> Iterator[list[_Row]]:
        batch: list[_Row] = []
        for row in self.rows(skip=skip, record=record):
            batch.append(row)
            if len(batch) == BATCH_SIZE:
                yield batch
                batch = []
        if batch:
            yield batch

    def plan(self, rows: list[_Row]) -> _Batch:
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
        batch = _Batch(rows)
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

    def _plan_contacts(self, batch: _Batch) -> None:
        emails = [r.values["email"] for r in batch.rows if not r.errors and "email" in r.values]
        existing: dict[str, _Record] = {}
        for part in _slices(emails):
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
        batch: _Batch,
        row: _Row,
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

    def write(self, batch: _Batch) -> None:
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
        for part in _slices([row["email"] for row in with_email]):
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

    def _link_by_domain(self, batch: _Batch) -> None:
        """Contacts without a company join the one live account owning their email's domain."""
        wanted: dict[str, list[_Record]] = defaultdict(list)
        for contact in batch.link_by_domain:
            domain = normalize_domain(contact["email"])
            if domain not in FREE_MAIL_DOMAINS:
                wanted[domain].append(contact)
        if not wanted:
            return
        owners: dict[str, set[int]] = defaultdict(set)
        for part in _slices(list(wanted)):
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
        for part in _slices(names):
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

    def display(self, row: _Row) -> list[str]:
        """A row as it would be stored, one value per mapped column, for the preview."""
        shown = []
        for key in self.mapping.values():
            value = row.values.get(key)
            shown.append("" if value is None else self.fields[key].show(value))
        return shown


# ---------------------------------------------------------------------------------------------
# Services


def _require(user: User | None) -> None:
    if user is not None and not user.can(Capability.CRM_IMPORT):
        raise CrmError(_("You may not import data."))


def import_create(
    *, path_or_bytes: Path | str | bytes, file_name: str, object_type: str, user: User | None
) -> ImportJob:
    """Check and keep an uploaded file; ImportFileError (nothing kept) when it cannot be read."""
    _require(user)
    if object_type not in (CONTACT, ACCOUNT):
        raise CrmError(_("Choose whether the file holds contacts or accounts."))
    limit = settings.TSUNAGARI_IMPORT_MAX_BYTES
    size = (
        len(path_or_bytes)
        if isinstance(path_or_bytes, bytes)
        else Path(path_or_bytes).stat().st_size
    )
    if size > limit:
        raise ImportFileError(
            _("The file is %(size)s; an import takes at most %(limit)s. Split it into parts.")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)}
        )
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    if not data.strip():
        raise ImportFileError(_("The file is empty."))
    encoding, text = _decode(data)
    delimiter = _delimiter(text)
    headers, row_count = _inspect(text, delimiter)
    relative = f"imports/{uuid.uuid4().hex}.csv"
    target = Path(settings.UPLOAD_DIR) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    try:
        return ImportJob.objects.create(
            object_type=object_type,
            file_name=Path(file_name).name[:255] or "import.csv",
            stored_path=relative,
            file_size=size,
            encoding=encoding,
            delimiter=delimiter,
            headers=headers,
            mapping=suggest_mapping(object_type=object_type, headers=headers),
            row_count=row_count,
            created_by=user,
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def import_set_mapping(*, job: ImportJob, mapping: dict[str, str], consent_basis: str) -> None:
    """Keep the mapping being worked on (before the start), so the page shows it again."""
    checked = _checked_mapping(job, mapping, import_fields(job.object_type))
    basis = _checked_basis(consent_basis)
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(
        mapping=checked, consent_basis=basis
    )
    job.mapping, job.consent_basis = checked, basis


def _checked_basis(consent_basis: str) -> str:
    basis = consent_basis.strip()
    if len(basis) > ImportJob._meta.get_field("consent_basis").max_length:
        raise CrmError(_("The consent basis is longer than 300 characters."))
    return basis


@dataclass
class PreviewRow:
    row: int  # the row number a spreadsheet shows (the header is row 1)
    action: str  # "create", "update" or "error"
    values: list[str]
    errors: list[str]
    account: str = ""


@dataclass
class Preview:
    """What an import would do, found by a dry run over every row."""

    columns: list[str]
    total: int = 0
    would_create: int = 0
    would_update: int = 0
    error_count: int = 0
    accounts_would_create: int = 0
    sample: list[PreviewRow] = field(default_factory=list)
    errors: list[PreviewRow] = field(default_factory=list)


def import_preview(*, job: ImportJob, mapping: dict[str, str], consent_basis: str = "") -> Preview:
    """Validate and match every row as the import would, writing nothing to the CRM.

    Its reading of the rows is kept beside the upload, for the import to reuse when it is
    started with the same mapping.
    """
    checked = _checked_mapping(job, mapping, import_fields(job.object_type))
    run = _Run(job, checked, _checked_basis(consent_basis), writing=False)
    preview = Preview(columns=[str(run.fields[key].label) for key in checked.values()])
    record = _CheckedRows(job, run.fingerprint)
    try:
        _tally(preview, run, record)
    except BaseException:
        record.abandon()
        raise
    record.close()
    return preview


def _tally(preview: Preview, run: _Run, record: _CheckedRows) -> None:
    for rows in run.batches(record=record):
        run.plan(rows)
        for row in rows:
            preview.total += 1
            if row.action == "error":
                preview.error_count += 1
            elif row.action == "create":
                preview.would_create += 1
            else:
                preview.would_update += 1
            wanted_sample = len(preview.sample) < PREVIEW_SAMPLE_ROWS
            wanted_error = row.action == "error" and len(preview.errors) < PREVIEW_ERROR_ROWS
            if wanted_sample or wanted_error:
                shown = PreviewRow(
                    row.number,
                    row.action,
                    run.display(row),
                    list(row.errors),
                    row.account.name if row.account is not None else "",
                )
                if wanted_sample:
                    preview.sample.append(shown)
                if wanted_error:
                    preview.errors.append(shown)
    preview.accounts_would_create = run.accounts.created if run.cleaner.contacts else 0


def import_error_rows(*, job: ImportJob) -> Iterator[tuple[int, list[str], list[str]]]:
    """(row number, original cells, messages) of every row in error, for the errors CSV.

    Before the start, a dry run with the saved mapping finds them; after, the stored errors
    (the first MAX_STORED_ERRORS of them) are matched back to the file's rows. A mapping that
    cannot be used raises CrmError here, before the first row.
    """
    if job.status == ImportJob.Status.UPLOADED:
        mapping = _checked_mapping(job, job.mapping, import_fields(job.object_type))
        return _dry_run_errors(_Run(job, mapping, job.consent_basis, writing=False))
    stored = {entry["row"]: entry["errors"] for entry in job.errors}
    return _stored_errors(job, stored) if stored else iter(())


def _dry_run_errors(run: _Run) -> Iterator[tuple[int, list[str], list[str]]]:
    for rows in run.batches():
        run.plan(rows)
        for row in rows:
            if row.errors:
                yield row.number, row.cells, row.errors


def _stored_errors(
    job: ImportJob, stored: dict[int, list[str]]
) -> Iterator[tuple[int, list[str], list[str]]]:
    last = max(stored)
    for number, cells in _job_rows(job):
        if number in stored:
            yield number, cells, stored[number]
        if number >= last:
            return


def import_start(
    *, job: ImportJob, mapping: dict[str, str], consent_basis: str, user: User | None
) -> ImportJob:
    """Queue the import for the worker and remember the mapping for files with these headers."""
    _require(user)
    checked = _checked_mapping(job, mapping, import_fields(job.object_type))
    basis = _checked_basis(consent_basis)
    with transaction.atomic():
        started = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).update(
            status=ImportJob.Status.QUEUED, mapping=checked, consent_basis=basis
        )
        if started != 1:
            raise CrmError(_("This import has already been started or cancelled."))
        ImportMappingMemory.objects.update_or_create(
            object_type=job.object_type,
            header_signature=header_signature(job.headers),
            defaults={"mapping": checked},
        )
    job.refresh_from_db()
    return job


def import_claim(*, job_id: int) -> bool:
    """Take a due job for this worker; True for exactly one of any number of racing workers."""
    return claim_one(
        ImportJob,
        pk=job_id,
        ready=due(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
        running_status=ImportJob.Status.RUNNING,
        lease=LEASE,
    )


def import_run(*, job_id: int) -> ImportJob:
    """Claim the job and run it to the end in this process (tests, benchmark, CLI)."""
    if not import_claim(job_id=job_id):
        raise CrmError(_("This import is not waiting to run."))
    _process(job_id, max_seconds=None)
    return ImportJob.objects.get(pk=job_id)


def run_due_imports() -> int:
    """Worker entry: claim one due import and run it for a time slice; the number of jobs run."""
    due_ids = (
        ImportJob.objects.filter(due(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING))
        .order_by("pk")
        .values_list("pk", flat=True)[:10]
    )
    for job_id in due_ids:
        if import_claim(job_id=job_id):
            _process(job_id, max_seconds=WORKER_SLICE_SECONDS)
            return 1
    return 0


def import_retry(*, job: ImportJob, user: User | None) -> None:
    """Queue a failed import again; it resumes after the last row committed."""
    _require(user)
    queued = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.FAILED).update(
        status=ImportJob.Status.QUEUED, failure="", finished_at=None, lease_until=None
    )
    if queued != 1:
        raise CrmError(_("Only a failed import can be retried."))


def import_cancel(*, job: ImportJob, user: User | None) -> None:
    """Stop an import; rows already imported stay (a running batch finishes or rolls back)."""
    _require(user)
    stoppable = (*ACTIVE_STATUSES, ImportJob.Status.UPLOADED, ImportJob.Status.FAILED)
    cancelled = ImportJob.objects.filter(pk=job.pk, status__in=stoppable).update(
        status=ImportJob.Status.CANCELLED, finished_at=timezone.now(), lease_until=None
    )
    if cancelled != 1:
        raise CrmError(_("This import has already finished."))
    _CheckedRows.discard(job)
    if job.status == ImportJob.Status.UPLOADED:
        _stored(job).unlink(missing_ok=True)


def get_import_for_user(user: User, pk: int) -> ImportJob:
    """An import this user may see, or 404; imports are shared by everyone who may import."""
    if not user.can(Capability.CRM_IMPORT):
        raise Http404
    try:
        return ImportJob.objects.select_related("created_by").get(pk=pk)
    except ImportJob.DoesNotExist:
        raise Http404 from None


# ---------------------------------------------------------------------------------------------
# Running a claimed job


def _process(job_id: int, *, max_seconds: float | None) -> None:
    """Run a claimed job batch by batch; stop when done, failed, cancelled or out of time."""
    started = time.monotonic()
    job = ImportJob.objects.get(pk=job_id)
    done = job.rows_done
    errors = list(job.errors)
    try:
        run = _Run(job, job.mapping, job.consent_basis, writing=True)
        with _deferred_checkpoints():
            for rows in run.batches(skip=done):
                with transaction.atomic():
                    _hold(job_id, done)
                    run.write(run.plan(rows))
                    done += len(rows)
                    failed = [{"row": r.number, "errors": r.errors} for r in rows if r.errors]
                    errors += failed[: max(0, MAX_STORED_ERRORS - len(errors))]
                    _advance(job_id, done, rows, errors)
                out_of_time = max_seconds is not None and time.monotonic() - started > max_seconds
                if out_of_time and done < job.row_count:
                    # Expire our own lease: the job stays RUNNING and is due again at once.
                    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
                        lease_until=timezone.now()
                    )
                    return
    except _Stopped:
        return
    except Exception as exc:
        log.exception("import %s failed after %s rows", job_id, done)
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED,
            failure=f"{type(exc).__name__}: {exc}"[:2000],
            lease_until=None,
            finished_at=timezone.now(),
        )
        return
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE, lease_until=None, finished_at=timezone.now()
    )
    _CheckedRows.discard(job)


@contextmanager
def _deferred_checkpoints() -> Iterator[None]:
    """On SQLite, copy the write-ahead log into the database rarely rather than per batch.

    A checkpoint writes and syncs every page the batch touched; the next batch touches most
    of the same index pages again, so fewer, larger checkpoints write far less.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(before)}")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _hold(job_id: int, done: int) -> None:
    """Renew the lease, and check the job is still ours and where we left it.

    Inside the batch's transaction, this UPDATE also locks the job row (PostgreSQL), so two
    workers can never write the same batch.
    """
    held = ImportJob.objects.filter(
        pk=job_id, status=ImportJob.Status.RUNNING, rows_done=done
    ).update(lease_until=timezone.now() + LEASE)
    if held != 1:
        raise _Stopped


def _advance(job_id: int, done: int, rows: list[_Row], errors: list[dict]) -> None:
    counts = {"create": 0, "update": 0, "error": 0}
    for row in rows:
        counts[row.action] += 1
    ImportJob.objects.filter(pk=job_id).update(
        rows_done=done,
        created_count=F("created_count") + counts["create"],
        updated_count=F("updated_count") + counts["update"],
        skipped_count=F("skipped_count") + counts["error"],
        errors=errors,
    )
