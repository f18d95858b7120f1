"""Building one email: the personal context, the required footer, tracked links, the headers
(List-Unsubscribe, Feedback-ID, Message-ID, return path), header-injection checks and DKIM."""

from __future__ import annotations

import functools
import hashlib
import html
import random
import re
from dataclasses import dataclass, field
from email.utils import formataddr, make_msgid

import dkim
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from tsunagari.crm.models import Contact
from tsunagari.mail import tokens
from tsunagari.mail.mime import bare_address, serialise
from tsunagari.mail.models import Link, SenderSettings, Template
from tsunagari.mail.render import Compiled, Safe, compile_template, render, text_from_html


class HeaderError(ValueError):
    """A header value with CR, LF or NUL: sending it would let data write headers."""


class ComplianceError(ValueError):
    """Marketing email that lacks what the law requires; `problems` says what is missing."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


# --- Required content (特定電子メール法 Art. 4, CAN-SPAM) ---------------------------------------

_REQUIRED_VARS = ("unsubscribe_url", "sender.name", "sender.postal_address")
_COMPLAINTS_VAR = "sender.complaints_contact"


def template_problems(*, html_source: str, text_source: str, kind: str) -> list[str]:
    """What a marketing template lacks: the footer, or each required variable, in each part."""
    if kind != Template.Kind.MARKETING:
        return []
    problems: list[str] = []
    parts = [(_("HTML"), html_source)]
    if text_source.strip():
        parts.append((_("plain text"), text_source))
    for label, source in parts:
        names = compile_template(source).names()
        if "footer" in names:
            continue
        missing = [v for v in (*_REQUIRED_VARS, _COMPLAINTS_VAR) if v not in names]
        if missing:
            problems.append(
                _(
                    "The %(part)s part needs {{ footer }} or these variables: %(vars)s "
                    "(sender name, postal address, opt-out link and complaints contact are "
                    "required in marketing email)."
                )
                % {"part": label, "vars": ", ".join(f"{{{{ {v} }}}}" for v in missing)}
            )
    return problems


def sender_problems(sender: SenderSettings) -> list[str]:
    """What the sender settings lack before any marketing email can go out."""
    required = {
        _("sender name"): sender.from_name,
        _("sender address"): sender.from_email,
        _("postal address"): sender.postal_address,
        _("contact for questions and complaints"): sender.complaints_contact,
        _("public base URL"): sender.public_base_url,
    }
    missing = [str(label) for label, value in required.items() if not value.strip()]
    if not missing:
        return []
    return [_("Sender settings are missing: %(fields)s.") % {"fields": ", ".join(missing)}]


# --- Templates compiled once per batch ---------------------------------------------------------


@dataclass
class CompiledTemplate:
    template_id: int
    kind: str
    topic_id: int | None
    subject: Compiled
    html: Compiled
    text: Compiled
    warnings: list[str]


def compile_parts(template: Template, subject: str | None = None) -> CompiledTemplate:
    subject_c = compile_template(subject if subject is not None else template.subject)
    html_c = compile_template(template.html)
    text_c = compile_template(template.text or text_from_html(template.html))
    return CompiledTemplate(
        template.pk,
        template.kind,
        template.topic_id,
        subject_c,
        html_c,
        text_c,
        subject_c.warnings + html_c.warnings + text_c.warnings,
    )


# --- The personal context: plain dicts of strings, never model objects ------------------------

CONTACT_FIELDS = (
    "id",
    "email",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "title",
    "department",
    "do_not_contact",
    "email_consent",
    "deleted_at",
    "account_id",
    "account__name",
    "account__prefecture",
    "account__address",
    "account__phone",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
    "owner__email",
)


def contact_rows(contact_ids) -> dict[int, dict]:
    """The fields personalisation and eligibility need, for many contacts in one query."""
    rows = Contact.objects.filter(pk__in=list(contact_ids)).values(*CONTACT_FIELDS)
    return {row["id"]: row for row in rows}


def _s(value: object) -> str:
    return "" if value is None else str(value)


def personal_context(row: dict, sender: SenderSettings) -> dict:
    family, given = _s(row["family_name"]), _s(row["given_name"])
    owner_name = f"{_s(row['owner__last_name'])} {_s(row['owner__first_name'])}".strip() or _s(
        row["owner__username"]
    )
    owner_email = _s(row["owner__email"])
    return {
        "contact": {
            "family_name": family,
            "given_name": given,
            "full_name": f"{family} {given}".strip(),
            "family_name_kana": _s(row["family_name_kana"]),
            "given_name_kana": _s(row["given_name_kana"]),
            "email": _s(row["email"]),
            "title": _s(row["title"]),
            "department": _s(row["department"]),
            "company": _s(row["account__name"]),
        },
        "account": {
            "name": _s(row["account__name"]),
            "prefecture": _s(row["account__prefecture"]),
            "address": _s(row["account__address"]),
            "phone": _s(row["account__phone"]),
        },
        "owner": {
            "name": owner_name,
            "email": owner_email,
            "signature": "\n".join(x for x in (owner_name, owner_email) if x),
        },
        "sender": {
            "name": sender.from_name,
            "email": sender.from_email,
            "postal_address": sender.postal_address,
            "complaints_contact": sender.complaints_contact,
        },
    }


def absolute(sender: SenderSettings, path: str) -> str:
    return sender.public_base_url.rstrip("/") + path


@functools.cache
def _route(name: str) -> tuple[str, str]:
    """A public route split around its token: reverse() once, not three times per message."""
    before, _marker, after = reverse(name, args=["TOKEN"]).partition("TOKEN")
    return before, after


def public_url(sender: SenderSettings, name: str, token: str) -> str:
    before, after = _route(name)
    return absolute(sender, f"{before}{token}{after}")


@functools.lru_cache(maxsize=32)
def _footer_static(language: str | None, from_name: str, postal: str, complaints: str):
    """The footer's fixed sentences, translated and escaped once per sender and language."""
    statement = _("To stop receiving these emails, unsubscribe here:")
    prefs = _("Choose which emails you receive:")
    contact_line = _("Questions and complaints: %(contact)s") % {"contact": complaints}
    sender_line = f"{from_name} / {postal}"
    e = html.escape
    html_head = (
        '<div class="tsunagari-footer" style="margin-top:24px;padding-top:12px;'
        'border-top:1px solid #ddd;font-size:12px;color:#666">'
        f"<p>{e(sender_line)}<br>{e(contact_line)}</p>\n<p>{e(statement)} "
    )
    text_head = f"--\n{sender_line}\n{contact_line}\n{statement}\n"
    return html_head, e(prefs), text_head, prefs


def footer_parts(sender: SenderSettings, unsubscribe_url: str, preferences_url: str):
    """The footer every marketing email carries, as HTML and as text."""
    html_head, html_prefs, text_head, prefs = _footer_static(
        get_language(), sender.from_name, sender.postal_address, sender.complaints_contact
    )
    e = html.escape
    unsubscribe, preferences = e(unsubscribe_url), e(preferences_url)
    html_footer = Safe(
        f'{html_head}<a href="{unsubscribe}">{unsubscribe}</a><br>\n'
        f'{html_prefs} <a href="{preferences}">{preferences}</a></p></div>'
    )
    text_footer = f"{text_head}{unsubscribe_url}\n{prefs}\n{preferences_url}\n"
    return html_footer, text_footer


# --- Tracked links -----------------------------------------------------------------------------

_HREF = re.compile(r'href="(https?://[^"]+)"', re.I)


@dataclass
class LinkCache:
    """Link ids per (scope, url) for this process; the UNIQUE constraint settles races."""

    ids: dict[tuple[str, str], int] = field(default_factory=dict)
    # (scope, href as written in the HTML) → link id, or None for Tsunagari's own links.
    targets: dict[tuple[str, str], int | None] = field(default_factory=dict)

    loaded: set[str] = field(default_factory=set)

    def id_for(self, scope: str, url: str) -> int:
        key = (scope, url)
        if key not in self.ids and scope not in self.loaded:
            # The scope's links so far in one query (a broadcast has a handful).
            self.loaded.add(scope)
            for pk, known in Link.objects.filter(scope=scope).values_list("pk", "url")[:1000]:
                self.ids[(scope, known)] = pk
        if key not in self.ids:
            digest = hashlib.sha256(url.encode()).hexdigest()
            try:
                with transaction.atomic():
                    link, _created = Link.objects.get_or_create(
                        scope=scope, url_hash=digest, defaults={"url": url[:2000]}
                    )
            except IntegrityError:
                link = Link.objects.get(scope=scope, url_hash=digest)
            self.ids[key] = link.pk
            if len(self.ids) > 50_000:
                self.ids.clear()
                self.targets.clear()
                self.loaded.clear()
        return self.ids[key]


def track_links(body: str, *, message_id: int, scope: str, sender: SenderSettings, links) -> str:
    own = sender.public_base_url.rstrip("/") + "/"
    before, after = _route("mail:click")
    prefix, suffix = html.escape(absolute(sender, before)), html.escape(after)
    targets = links.targets

    def replace(match: re.Match) -> str:
        raw = match.group(1)
        key = (scope, raw)
        if key not in targets:
            url = html.unescape(raw)
            # Unsubscribe and preference links stay as they are (None).
            targets[key] = None if url.startswith(own) else links.id_for(scope, url)
        link_id = targets[key]
        if link_id is None:
            return match.group(0)
        # A signed token is URL-safe (base64 and digits): nothing in it to escape.
        return f'href="{prefix}{tokens.click_token(message_id, link_id)}{suffix}"'

    return _HREF.sub(replace, body)


def add_pixel(body: str, url: str) -> str:
    pixel = f'<img src="{html.escape(url)}" width="1" height="1" alt="" style="display:none">'
    at = body.rfind("</body>")
    if at < 0:
        at = body.lower().rfind("</body>")
    return body[:at] + pixel + body[at:] if at >= 0 else body + pixel


# --- Headers and DKIM --------------------------------------------------------------------------

_BAD = re.compile(r"[\r\n\x00]")


def checked_header(name: str, value: str) -> str:
    if _BAD.search(value):
        raise HeaderError(f"{name} contains a line break or NUL")
    return value


def dkim_signed(raw: bytes, sender: SenderSettings) -> bytes:
    """The message with a DKIM-Signature prepended (relaxed/relaxed over DKIM_HEADERS)."""
    signature = dkim.sign(
        raw,
        sender.dkim_selector.encode(),
        sender.dkim_domain.encode(),
        sender.dkim_private_key.encode(),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=DKIM_HEADERS,
    )
    return signature + raw


DKIM_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"feedback-id",
]


class _Frozen:
    """A message already serialised: the SMTP backend asks for its bytes and gets them."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        return self.raw


class MailMessage(EmailMultiAlternatives):
    """Django's message, DKIM-signed on the way out when the sender settings hold a key."""

    sender: SenderSettings | None = None
    frozen: _Frozen | None = None

    def plain_envelope(self) -> tuple[str, list[str]] | None:
        """(sender, [recipient]) when both are bare ASCII addresses needing no encoding."""
        if self.cc or self.bcc or len(self.to) != 1:
            return None
        if bare_address(self.from_email) and bare_address(self.to[0]):
            return self.from_email, list(self.to)
        return None

    def freeze(self) -> None:
        """Build and serialise (and sign) now, so that sending only has to write the bytes."""
        self.frozen = self.message()

    def message(self, *args, **kwargs):
        if self.frozen is not None:
            return self.frozen
        # The usual shape (text + HTML) is written directly (mime.py); anything else is built
        # by Django's email package.
        raw = serialise(self)
        if raw is None:
            built = super().message(*args, **kwargs)
            # A random boundary set here spares the generator from making one and compiling a
            # regular expression per message to check the body against it.
            built.set_boundary(f"=_tsg_{random.getrandbits(128):032x}")
            raw = built.as_bytes(linesep="\r\n")
        sender = self.sender
        if sender and sender.dkim_private_key and sender.dkim_domain and sender.dkim_selector:
            raw = dkim_signed(raw, sender)
        return _Frozen(raw)


@dataclass
class Composed:
    email: MailMessage
    subject: str
    header_message_id: str


@functools.lru_cache(maxsize=32)
def _formataddr(name: str, address: str) -> str:
    return formataddr((name, address))


def sender_domain(sender: SenderSettings) -> str:
    return (sender.from_email.rsplit("@", 1)[-1] or "localhost").lower()


def compose(
    *,
    message_id: int | None,
    row: dict,
    parts: CompiledTemplate,
    sender: SenderSettings,
    to: str,
    scope: str,
    links: LinkCache | None,
    broadcast_id: int | None = None,
    subject_prefix: str = "",
) -> Composed:
    """One email ready for the connection. message_id None is a test send (nothing tracked)."""
    context = personal_context(row, sender)
    if message_id is not None:
        unsub_token = tokens.unsubscribe_token(message_id)
        unsubscribe_url = public_url(sender, "mail:unsubscribe", unsub_token)
    else:
        unsub_token = ""
        unsubscribe_url = public_url(sender, "mail:unsubscribe", "test")
    preferences_url = public_url(sender, "mail:preferences", tokens.preferences_token(row["id"]))
    html_footer, text_footer = footer_parts(sender, unsubscribe_url, preferences_url)
    context["unsubscribe_url"] = unsubscribe_url
    context["preferences_url"] = preferences_url
    subject = checked_header(
        "Subject", subject_prefix + render(parts.subject, context, escape=False).strip()
    )
    context["footer"] = text_footer
    text_body = render(parts.text, context, escape=False)
    context["footer"] = html_footer
    html_body = render(parts.html, context, escape=True)
    if message_id is not None and links is not None:
        html_body = track_links(
            html_body, message_id=message_id, scope=scope, sender=sender, links=links
        )
        pixel = public_url(sender, "mail:open", tokens.open_token(message_id))
        html_body = add_pixel(html_body, pixel)
    domain = sender_domain(sender)
    header_id = make_msgid(idstring=f"m{message_id or 0}", domain=domain)
    from_header = _formataddr(sender.from_name, sender.from_email)
    envelope = sender.from_email
    if message_id is not None and sender.bounce_domain:
        envelope = f"bounces+{tokens.return_path_tag(message_id)}@{sender.bounce_domain}"
    headers = {
        "From": from_header,
        "Message-ID": header_id,
        "Feedback-ID": f"{broadcast_id or 0}:{parts.template_id}:{parts.kind}:tsunagari",
    }
    if sender.reply_to:
        headers["Reply-To"] = sender.reply_to
    if parts.kind == Template.Kind.MARKETING:
        targets = [f"<{unsubscribe_url}>"]
        if sender.unsubscribe_mailbox and unsub_token:
            local, _at, mail_domain = sender.unsubscribe_mailbox.partition("@")
            tag = tokens.return_path_tag(message_id or 0)
            targets.append(f"<mailto:{local}+{tag}@{mail_domain}?subject=unsubscribe>")
        headers["List-Unsubscribe"] = ", ".join(targets)
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in headers.items():
        checked_header(name, value)
    checked_header("To", to)
    email = MailMessage(
        subject=subject, body=text_body, from_email=envelope, to=[to], headers=headers
    )
    email.attach_alternative(html_body, "text/html")
    email.sender = sender
    return Composed(email, subject, header_id)
