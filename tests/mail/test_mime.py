"""The directly written MIME bytes (mime.py) say what Django's email package would say, and the
fast token signer signs exactly as django.core.signing (whose verification the views use)."""

from __future__ import annotations

import email
import email.policy

import pytest
from django.core import signing
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.utils.crypto import salted_hmac

from tsunagari.mail import tokens
from tsunagari.mail.compose import MailMessage
from tsunagari.mail.mime import serialise

HEADERS = {
    "From": "つながり商事 マーケティング部 <news@example.co.jp>",
    "Message-ID": "<1.m1@example.co.jp>",
    "Feedback-ID": "1:2:marketing:tsunagari",
    "List-Unsubscribe": "<https://mail.example.co.jp/m/u/123:abcdefghijklmnopqrstuvwxyz0123/>, "
    "<mailto:unsubscribe+m123-0123456789abcdef@example.co.jp?subject=unsubscribe>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "Reply-To": "support@example.co.jp",
}


def _message(cls, subject: str, html: str, text: str = "本文\n.dot line\nlast"):
    message = cls(
        subject=subject,
        body=text,
        from_email="bounces+m1-abc@bounce.example.co.jp",
        to=["satou@example.jp"],
        headers=HEADERS,
    )
    message.attach_alternative(html, "text/html")
    return message


def _parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize(
    ("subject", "html"),
    [
        ("佐藤様へ 新機能のご案内" * 6, "<p>こんにちは</p>\n<p>{x}</p>"),
        ("plain ascii", "<p>" + "長" * 800 + "</p>"),  # a line too long for SMTP: QP
        ("改行の混在", "a\r\nb\rc\n"),
    ],
)
def test_the_bytes_read_back_as_what_django_would_have_sent(subject, html):
    ours = serialise(_message(MailMessage, subject, html))
    assert ours is not None
    django = _message(EmailMultiAlternatives, subject, html).message().as_bytes(linesep="\r\n")
    a, b = _parse(ours), _parse(django)
    for name in [*HEADERS, "Subject", "To", "MIME-Version"]:
        assert str(a[name]).strip() == str(b[name]).strip(), name
    assert a.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        assert a.get_body((kind,)).get_content() == b.get_body((kind,)).get_content()
    assert max(len(line) for line in ours.split(b"\r\n")) <= 998
    assert b"\n" not in ours.replace(b"\r\n", b"")  # CRLF line ends only


def test_header_injection_is_refused():
    message = _message(MailMessage, "件名\r\nBcc: victim@example.com", "<p>x</p>")
    with pytest.raises(BadHeaderError):
        serialise(message)


def test_other_shapes_are_left_to_django():
    message = _message(MailMessage, "件名", "<p>x</p>")
    message.attach("a.txt", "添付", "text/plain")
    assert serialise(message) is None
    assert b"a.txt" in message.message().as_bytes()


@pytest.mark.parametrize("value", ["1", "123456", "12.34"])
def test_tokens_are_django_signatures(value):
    for salt in ("tsunagari.mail.unsubscribe", "tsunagari.mail.click"):
        assert tokens._sign(salt, value) == signing.Signer(salt=salt).sign(value)
    expected = salted_hmac("tsunagari.mail.verp", value, algorithm="sha256").hexdigest()[:16]
    assert tokens._hex_signature(value) == expected
