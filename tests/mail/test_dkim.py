"""DKIM: with a key in the sender settings, what arrives verifies with dkimpy and the signature
covers both List-Unsubscribe headers (as mailbox providers require for one-click)."""

from __future__ import annotations

import subprocess

import dkim
import pytest

from tests.mail.conftest import make_segment, opted_in
from tsunagari.mail import services
from tsunagari.mail.models import Broadcast
from tsunagari.mail.sending import send_batch


def _keypair() -> tuple[str, str]:
    private = subprocess.run(
        ["openssl", "genrsa", "2048"], capture_output=True, check=True, text=True
    ).stdout
    public = subprocess.run(
        ["openssl", "rsa", "-pubout"], input=private, capture_output=True, check=True, text=True
    ).stdout
    body = "".join(line for line in public.splitlines() if "-----" not in line)
    return private, body


@pytest.mark.django_db(transaction=True)
def test_signed_mail_verifies_and_covers_list_unsubscribe(smtp_server, template, sender):
    private, public = _keypair()
    sender.dkim_domain, sender.dkim_selector = "example.co.jp", "tsg2026"
    sender.dkim_private_key = private
    sender.save()
    contact = opted_in("satou@example.jp", family_name="佐藤")
    broadcast = Broadcast.objects.create(
        name="dkim", template=template, segment=make_segment("s", [contact])
    )
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    send_batch()
    (mail,) = smtp_server.messages

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"tsg2026._domainkey.example.co.jp."
        return f"v=DKIM1; k=rsa; p={public}".encode()

    assert dkim.verify(mail.data, dnsfunc=dns)
    signature = str(mail.message["DKIM-Signature"]).replace(" ", "").replace("\n", "")
    signed = signature.split("h=")[1].split(";")[0].lower().split(":")
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(signed)
    tampered = mail.data.replace(b"Subject:", b"Subject: [edited]", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


@pytest.mark.django_db(transaction=True)
def test_without_a_key_nothing_is_signed(smtp_server, template):
    contact = opted_in("satou@example.jp")
    broadcast = Broadcast.objects.create(
        name="plain", template=template, segment=make_segment("s", [contact])
    )
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    send_batch()
    assert smtp_server.messages[0].message["DKIM-Signature"] is None
