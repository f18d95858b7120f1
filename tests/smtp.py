"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping what arrives.

Email tests deliver through Django's SMTP backend to this server and parse the messages, so
they see exactly what a receiving MTA would: headers, MIME parts, envelope sender and
recipients.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage


@dataclass
class SmtpSink:
    """What the handler keeps; `reply` lets a test make the server refuse (e.g. "451 …")."""

    messages: list[Received] = field(default_factory=list)
    reply: str = "250 OK"
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        if not self.reply.startswith("250"):
            return self.reply
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, parsed)
            )
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.rcpt_tos]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = _free_port()
        # A configured name: without one aiosmtpd resolves this host's FQDN per connection.
        self.controller = Controller(
            self.sink, hostname="127.0.0.1", port=self.port, server_hostname="mx.test"
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
