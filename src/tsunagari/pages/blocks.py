"""Landing-page blocks: what each block holds, and the sanitising every block goes through.

Blocks are stored as JSON. Rich text is cleaned with nh3 when saved and again when rendered
(a block saved by an older version, or edited in the database, is never trusted); links and
images accept only http(s) and same-server paths.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

BLOCK_TYPES = {
    "heading": gettext_lazy("Heading"),
    "text": gettext_lazy("Text"),
    "image": gettext_lazy("Image"),
    "form": gettext_lazy("Form"),
    "cta": gettext_lazy("Button (call to action)"),
    "columns": gettext_lazy("Two columns"),
}
MAX_BLOCKS = 60
MAX_HTML = 20_000

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "a",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "span",
    "small",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}


class BlockError(ValueError):
    """A block that cannot be saved, with a message for the editor."""


def clean_html(value: str) -> str:
    return nh3.clean(
        value or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def safe_url(value: str) -> str:
    """http(s) URLs and paths on this server; anything else (javascript:, data:, //x) is ''."""
    url = (value or "").strip()
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url[:1000]
    parts = urlsplit(url)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return url[:1000]
    return ""


def _text(value: object, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def clean_block(block: dict) -> dict:
    kind = block.get("type")
    if kind == "heading":
        level = block.get("level") if block.get("level") in (1, 2, 3) else 2
        return {"type": kind, "text": _text(block.get("text"), 200), "level": level}
    if kind == "text":
        return {"type": kind, "html": clean_html(str(block.get("html", ""))[:MAX_HTML])}
    if kind == "image":
        return {
            "type": kind,
            "src": safe_url(str(block.get("src", ""))),
            "alt": _text(block.get("alt"), 200),
        }
    if kind == "form":
        try:
            form_id = int(block.get("form_id") or 0)
        except (TypeError, ValueError):
            form_id = 0
        return {"type": kind, "form_id": form_id}
    if kind == "cta":
        return {
            "type": kind,
            "label": _text(block.get("label"), 80),
            "url": safe_url(str(block.get("url", ""))),
        }
    if kind == "columns":
        return {
            "type": kind,
            "left": clean_html(str(block.get("left", ""))[:MAX_HTML]),
            "right": clean_html(str(block.get("right", ""))[:MAX_HTML]),
        }
    raise BlockError(_("Unknown block type."))


def clean_blocks(blocks: object) -> list[dict]:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise BlockError(_("A page holds at most %(n)s blocks.") % {"n": MAX_BLOCKS})
    return [clean_block(b) for b in blocks if isinstance(b, dict)]


def new_block(kind: str) -> dict:
    defaults = {
        "heading": {"text": "", "level": 2},
        "text": {"html": ""},
        "image": {"src": "", "alt": ""},
        "form": {"form_id": 0},
        "cta": {"label": "", "url": ""},
        "columns": {"left": "", "right": ""},
    }
    if kind not in defaults:
        raise BlockError(_("Unknown block type."))
    return {"type": kind, **defaults[kind]}
