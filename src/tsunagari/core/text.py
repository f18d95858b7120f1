"""Japanese text normalisation shared by every app: NFKC, width and case, company suffixes."""

from __future__ import annotations

import re
import unicodedata

# Legal-form markers in Japanese and English company names; removed only for matching.
_COMPANY_MARKERS = (
    "株式会社",
    "有限会社",
    "合同会社",
    "合名会社",
    "合資会社",
    "一般社団法人",
    "公益社団法人",
    "一般財団法人",
    "公益財団法人",
    "特定非営利活動法人",
    "npo法人",
    "学校法人",
    "医療法人",
    "社会福祉法人",
    "独立行政法人",
    "(株)",
    "(有)",
    "(同)",
    "(社)",
    "(財)",
)
# ㈱ ㈲ are turned into (株) (有) by NFKC, so the markers above cover them.
_ENGLISH_SUFFIX = re.compile(
    r"[\s,.]*\b(co\.?,?\s*ltd|corporation|corp|inc|incorporated|ltd|limited|llc|k\.?k)\.?$"
)
_SPACES = re.compile(r"[\s\u3000・]+")


def normalize_text(value: str | None) -> str:
    """NFKC (full-width ASCII → half-width, half-width kana → full-width), casefold, one space."""
    if not value:
        return ""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _SPACES.sub(" ", folded).strip()


def to_katakana(value: str) -> str:
    """Hiragana folded to katakana, so さとう finds サトウ (kana is typed either way)."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in value)


def normalize_company_name(value: str | None) -> str:
    """Key for matching company names: 株式会社/(株)/㈱ and Inc./Co., Ltd. removed, no spaces."""
    text = normalize_text(value)
    for marker in _COMPANY_MARKERS:
        text = text.replace(marker, "")
    text = _ENGLISH_SUFFIX.sub("", text)
    return _SPACES.sub("", text).strip(" ,.")


def normalize_email(value: str | None) -> str:
    """Trimmed, NFKC-folded and lower-cased; mailbox providers treat the local part this way."""
    if not value:
        return ""
    return unicodedata.normalize("NFKC", value).strip().lower()


def normalize_domain(value: str | None) -> str:
    """A web domain from a domain, URL or email address: lower-case, no scheme, path or www."""
    text = normalize_email(value)
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    return text


def corporate_number_check_digit(base12: str) -> int:
    """Check digit of a 法人番号 from its 12-digit base (国税庁 specification)."""
    total = 0
    for position, char in enumerate(reversed(base12), start=1):
        total += int(char) * (1 if position % 2 else 2)
    return 9 - (total % 9)


def is_valid_corporate_number(value: str) -> bool:
    """13 ASCII digits whose first digit is the check digit of the other twelve."""
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        return False
    return int(value[0]) == corporate_number_check_digit(value[1:])


def clean_corporate_number(value: str | None) -> str:
    """Digits only (full-width and hyphens accepted on input); '' when blank."""
    if not value:
        return ""
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value))
