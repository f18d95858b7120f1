"""The fields a column can be mapped to, how each cell is read, and mapping columns to them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tsunagari.core.text import normalize_domain
from tsunagari.crm.choices import (
    PREFECTURE_NAMES_JA,
    BantBudget,
    BantTiming,
    BuyingRole,
    ConsentAction,
    ConsentState,
    Industry,
    LifecycleStage,
    Prefecture,
)
from tsunagari.crm.models import (
    Account,
    Contact,
    CustomField,
    ImportJob,
    ImportMappingMemory,
    Tag,
)
from tsunagari.crm.services import CrmError
from tsunagari.crm.validation import (
    clean_corporate_number_field,
    clean_custom_value,
    clean_email,
    clean_integer,
    clean_phone,
)

CONTACT = CustomField.Object.CONTACT
ACCOUNT = CustomField.Object.ACCOUNT


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


def checked_mapping(
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
