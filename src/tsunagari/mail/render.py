"""The personalisation language: `{{ contact.family_name | default:"ご担当者" }}` and nothing more.

Sandboxed by construction: a template can only name documented variables, looked up in
plain dicts of strings (never a model object), and the only filter is `default`. There are no
loops, calls or attribute access, so a template cannot run code or reach data it should not.
A syntax error names its line; an unknown variable renders empty and is reported as a
warning, so a typo never stops a broadcast half-way.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import nh3

# The documented variables (docs/email.md). Anything else renders empty with a warning.
VARIABLES: dict[str, tuple[str, ...]] = {
    "contact": (
        "family_name",
        "given_name",
        "full_name",
        "family_name_kana",
        "given_name_kana",
        "email",
        "title",
        "department",
        "company",
    ),
    "account": ("name", "prefecture", "address", "phone"),
    "owner": ("name", "email", "signature"),
    "sender": ("name", "email", "postal_address", "complaints_contact"),
}
GLOBALS = ("unsubscribe_url", "preferences_url", "footer")

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_EXPR = re.compile(
    r"""^\s*(?P<path>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\s*
        (?:\|\s*(?P<filter>[a-z_]+)\s*(?::\s*"(?P<arg>[^"]*)")?\s*)?$""",
    re.X,
)


class TemplateSyntaxError(ValueError):
    """A template that cannot be compiled; `line` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


class Safe(str):
    """A value that is already HTML (the footer): inserted into the HTML part unescaped."""


@dataclass(frozen=True)
class Var:
    path: tuple[str, ...]
    default: str
    known: bool


@dataclass
class Compiled:
    parts: list[str | Var]
    warnings: list[str] = field(default_factory=list)

    def names(self) -> set[str]:
        return {".".join(p.path) for p in self.parts if isinstance(p, Var)}


def is_known(path: tuple[str, ...]) -> bool:
    if len(path) == 1:
        return path[0] in GLOBALS
    return path[0] in VARIABLES and path[1] in VARIABLES[path[0]]


def compile_template(source: str) -> Compiled:
    """Parse once; render many times. Raises TemplateSyntaxError with the line."""
    parts: list[str | Var] = []
    warnings: list[str] = []
    pos = 0
    for match in _TAG.finditer(source):
        parts.append(source[pos : match.start()])
        line = source.count("\n", 0, match.start()) + 1
        expr = _EXPR.match(match.group(1))
        if expr is None:
            raise TemplateSyntaxError(f"cannot read {{{{{match.group(1).strip()}}}}}", line)
        if expr["filter"] not in (None, "default"):
            raise TemplateSyntaxError(f"unknown filter {expr['filter']!r}", line)
        if expr["filter"] == "default" and expr["arg"] is None:
            raise TemplateSyntaxError('default needs a value: default:"…"', line)
        path = tuple(expr["path"].split("."))
        known = is_known(path)
        if not known:
            warnings.append(f"line {line}: unknown variable {'.'.join(path)} (renders empty)")
        parts.append(Var(path, expr["arg"] or "", known))
        pos = match.end()
    rest = source[pos:]
    if "{{" in rest or "}}" in rest:
        line = source.count("\n", 0, pos + max(rest.find("{{"), rest.find("}}"))) + 1
        raise TemplateSyntaxError("unclosed {{ … }}", line)
    parts.append(rest)
    return Compiled([p for p in parts if p != ""], warnings)


def render(compiled: Compiled, context: dict, *, escape: bool) -> str:
    out: list[str] = []
    for part in compiled.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = context.get(part.path[0], "") if part.known else ""
        if len(part.path) == 2:
            value = value.get(part.path[1], "") if isinstance(value, dict) else ""
        if not isinstance(value, str):
            value = ""
        if not value.strip():
            value = part.default
        if escape and not isinstance(value, Safe):
            value = html.escape(value)
        out.append(value)
    return "".join(out)


# --- HTML: sanitising and the plain-text part -------------------------------------------------

_EMAIL_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "center", "code", "div", "em", "font", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "small", "span",
    "strong", "style", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
    "ul", "html", "head", "body", "meta", "title",
}  # fmt: skip
_EMAIL_ATTRS = {
    "*": {"style", "class", "align", "valign", "width", "height", "bgcolor", "dir", "lang"},
    "a": {"href", "title", "target", "name"},
    "img": {"src", "alt", "border"},
    "table": {"border", "cellpadding", "cellspacing", "role"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "font": {"color", "face", "size"},
    "meta": {"name", "content", "charset"},
}


def sanitise_html(source: str) -> str:
    """What email clients may render: no scripts, no event handlers, no javascript: URLs.

    `<style>` stays (responsive email needs media queries); the preview shows the result in a
    sandboxed frame, so its CSS cannot touch the application.
    """
    return nh3.clean(
        source,
        tags=_EMAIL_TAGS,
        attributes=_EMAIL_ATTRS,
        clean_content_tags={"script"},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel=None,
        strip_comments=True,
    )


class _TextMaker(HTMLParser):
    _BLOCK = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "table", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: str | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("style", "head", "title"):
            self.skip += 1
        if tag in self._BLOCK:
            self.out.append("\n")
        if tag == "li":
            self.out.append("・")
        if tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        if tag == "a" and self.href and not self.href.startswith("mailto:"):
            self.out.append(f" ( {self.href} )")
            self.href = None
        if tag in ("p", "div", "h1", "h2", "h3", "table"):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def text_from_html(source: str) -> str:
    """An automatic plain-text part: paragraphs and line breaks kept, links written out."""
    maker = _TextMaker()
    maker.feed(source)
    maker.close()
    lines = [line.strip() for line in "".join(maker.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
