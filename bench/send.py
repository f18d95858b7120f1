"""`tsunagari bench send`: a personalised broadcast rendered and delivered end to end.

An aiosmtpd server on loopback, started here, counts what each recipient receives. Three
figures from the same process and data:

- `render_only_per_s`: personalising and serialising each message (no database writes, no
  SMTP) — the cost of the content;
- `ceiling_messages_per_s`: raw `smtplib` over one connection sending those pre-rendered
  messages — what this machine's loopback SMTP can take (half before the real run, half
  after, so that a changing load on a shared machine weighs on both alike);
- `messages_per_s`: the real path — the broadcast runner materialises one Message per
  recipient, the send runner claims batches, checks consent and suppression, renders, delivers
  through Django's SMTP backend (TSUNAGARI_MAIL_CONNECTIONS connections per batch, each
  reused for its share) and records outcomes and touchpoints.

`ratio` is messages_per_s / ceiling_messages_per_s. `duplicates` and `lost` compare what the
server received with the recipients.
"""

from __future__ import annotations

import collections
import os
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bench.common import BenchError, database_version, log, prepared_dataset
from tsunagari.crm.choices import ConsentState
from tsunagari.crm.models import Contact
from tsunagari.mail import services
from tsunagari.mail.compose import LinkCache, compile_parts, compose, contact_rows
from tsunagari.mail.models import Broadcast, Message, SenderSettings, Template
from tsunagari.mail.sending import send_batches
from tsunagari.segments.models import Membership, Segment

DEFAULT_CONTACTS = 1_000_000
# How many recipients the broadcast has (at most the data set's contacts with an address).
RECIPIENTS = int(os.environ.get("TSUNAGARI_BENCH_SEND_RECIPIENTS", "10000"))

HTML = """<html><head><style>@media (max-width:600px){.wrap{width:100%!important}}</style></head>
<body><table class="wrap" width="600" align="center"><tr><td>
<p>{{ contact.company | default:"貴社" }}<br>{{ contact.department }} {{ contact.title }}<br>
{{ contact.family_name | default:"ご担当者" }} {{ contact.given_name }} 様</p>
<p>いつもお世話になっております。{{ sender.name }}です。<br>
11月のオンラインセミナー「営業とマーケティングをつなぐデータ活用」のご案内です。</p>
<p><a href="https://www.example.co.jp/seminar/2026-11">お申し込みはこちら</a></p>
<p><a href="https://www.example.co.jp/case-studies">導入事例を見る</a> ·
<a href="https://www.example.co.jp/whitepaper">資料ダウンロード</a></p>
<p>担当: {{ owner.name | default:"営業部" }} {{ owner.email }}</p>
{{ footer }}
</td></tr></table></body></html>"""


# The receiving server runs in its own process, as a real MTA would: in this process it would
# compete with the sender for the interpreter lock and slow both figures down.
SERVER = """
import sys

from aiosmtpd.controller import Controller


class Log:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        self.out.write(envelope.mail_from + "\\t" + " ".join(envelope.rcpt_tos) + "\\n")
        return "250 OK"


out = open(sys.argv[2], "a", buffering=1)
# A configured name, as a real MTA has: without one aiosmtpd asks the resolver for this
# host's FQDN on every connection, and the sender opens a few per batch.
controller = Controller(
    Log(out), hostname="127.0.0.1", port=int(sys.argv[1]), server_hostname="mx.bench.test"
)
controller.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
controller.stop()
out.close()
"""


class SmtpServerProcess:
    """aiosmtpd on loopback in a child process, writing one line per message received."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.log = directory / f"bench-send-{os.getpid()}.log"
        self.log.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port), str(self.log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise BenchError("the SMTP server did not start")

    def received(self, envelope_prefix: str) -> collections.Counter[str]:
        """Messages per recipient whose envelope sender starts with `envelope_prefix`."""
        counts: collections.Counter[str] = collections.Counter()
        with self.log.open() as lines:
            for line in lines:
                sender, _tab, recipients = line.rstrip("\n").partition("\t")
                if sender.startswith(envelope_prefix):
                    for rcpt in recipients.split():
                        counts[rcpt.lower()] += 1
        return counts

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.log.unlink(missing_ok=True)


def _setup(recipients: int) -> tuple[Template, Segment, list[int]]:
    sender, _ = SenderSettings.objects.get_or_create(pk=1)
    sender.from_name = "つながり商事 マーケティング部"
    sender.from_email = "news@example.co.jp"
    sender.postal_address = "〒100-0001 東京都千代田区千代田1-1"
    sender.complaints_contact = "support@example.co.jp / 03-1234-5678"
    sender.public_base_url = "https://mail.example.co.jp"
    sender.bounce_domain = "bounce.example.co.jp"
    sender.frequency_cap = 1000
    sender.save()
    ids = list(
        Contact.objects.filter(deleted_at__isnull=True, email__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)[:recipients]
    )
    if not ids:
        raise BenchError("the data set has no contacts with an email address")
    # A writable copy of the data set: make the chosen recipients emailable, as after a
    # consent campaign (consent itself is checked per message, exactly as in production).
    for start in range(0, len(ids), 5000):
        Contact.objects.filter(pk__in=ids[start : start + 5000]).update(
            email_consent=ConsentState.OPT_IN, do_not_contact=False
        )
    template = services.template_save(
        template=Template(
            name="bench", subject="{{ contact.family_name }}様 セミナーのご案内", html=HTML
        )
    )
    segment = Segment.objects.create(name="bench send", kind=Segment.Kind.STATIC)
    now = timezone.now()
    for start in range(0, len(ids), 5000):
        Membership.objects.bulk_create(
            [
                Membership(segment=segment, contact_id=i, entered_at=now)
                for i in ids[start : start + 5000]
            ]
        )
    return template, segment, ids


def _render_only(template: Template, ids: list[int]) -> tuple[float, list[tuple[str, bytes]]]:
    """Personalise and serialise every message, as the sender does, without sending."""
    sender = SenderSettings.objects.get(pk=1)
    links = LinkCache()
    rendered: list[tuple[str, bytes]] = []
    began = time.perf_counter()
    parts = compile_parts(template)
    for start in range(0, len(ids), 500):
        rows = contact_rows(ids[start : start + 500])
        for offset, contact_id in enumerate(ids[start : start + 500]):
            row = rows[contact_id]
            composed = compose(
                message_id=10_000_000 + start + offset,
                row=row,
                parts=parts,
                sender=sender,
                to=row["email"],
                scope="bench:render",
                links=links,
            )
            rendered.append((row["email"], composed.email.message().as_bytes(linesep="\r\n")))
    return time.perf_counter() - began, rendered


def _ceiling(port: int, rendered: list[tuple[str, bytes]]) -> float:
    """Raw smtplib over one connection: the machine's delivery ceiling for these messages."""
    began = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for to, data in rendered:
            smtp.sendmail(CEILING_SENDER, [to], data)
    return time.perf_counter() - began


def _end_to_end(template: Template, segment: Segment) -> tuple[float, Broadcast]:
    broadcast = Broadcast.objects.create(
        name="bench send", template=template, segment=segment, rate_per_minute=10**9
    )
    began = time.perf_counter()
    services.broadcast_schedule(broadcast=broadcast)
    services.broadcasts_advance()
    while True:
        handled = send_batches()
        if not handled:
            services.broadcasts_advance()
            broadcast.refresh_from_db()
            if broadcast.status == Broadcast.Status.DONE:
                break
            if not Message.objects.filter(broadcast=broadcast, status="queued").exists():
                raise BenchError(f"the broadcast stalled in status {broadcast.status}")
    return time.perf_counter() - began, broadcast


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (Linux /proc), or None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None  # SQLite runs inside this process
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


class CpuMeter:
    """CPU spent per message by this process, the SMTP server and the database server."""

    def __init__(self, server_pid: int) -> None:
        self.pids = {"smtp_server": server_pid, "database": _database_pid()}
        self.start = self._now()

    def _now(self) -> dict[str, float | None]:
        times = os.times()
        now = {"sender": times.user + times.system}
        for name, pid in self.pids.items():
            now[name] = _cpu_seconds(pid) if pid else None
        return now

    def per_message_ms(self, n: int) -> dict[str, float]:
        end = self._now()
        return {
            name: round((end[name] - self.start[name]) * 1000 / n, 3)
            for name in end
            if end[name] is not None and self.start[name] is not None
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CEILING_SENDER = "ceiling@bounce.example.co.jp"


def run(*, contacts: int, fresh: bool, database: str) -> dict:
    with prepared_dataset(contacts, fresh, writable=True) as dataset:
        server = SmtpServerProcess(Path(settings.DATA_DIR))
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        try:
            template, segment, ids = _setup(min(RECIPIENTS, contacts))
            n = len(ids)
            log(f"{n:,} recipients; rendering only")
            render_seconds, rendered = _render_only(template, ids)
            log(f"render only: {n / render_seconds:,.0f} messages/s; raw smtplib ceiling")
            # The ceiling in two halves, before and after the real run, so that a load that
            # changes during the benchmark (a shared machine) weighs on both figures alike.
            half = len(rendered) // 2
            meter = CpuMeter(server.process.pid)
            ceiling_seconds = _ceiling(server.port, rendered[:half])
            ceiling_cpu = meter.per_message_ms(half)
            rendered = rendered[half:]
            log(f"ceiling, first half: {half / ceiling_seconds:,.0f} messages/s; end to end")
            meter = CpuMeter(server.process.pid)
            seconds, broadcast = _end_to_end(template, segment)
            cpu = meter.per_message_ms(n)
            log(f"end to end: {n / seconds:,.0f} messages/s; ceiling, second half")
            ceiling_seconds += _ceiling(server.port, rendered)
            del rendered
            delivered = sum(server.received(CEILING_SENDER).values())
            if delivered != n:
                raise BenchError(f"the ceiling run delivered {delivered} of {n}")
            received = server.received("bounces+")
        finally:
            server.stop()
        sent = Message.objects.filter(broadcast=broadcast, status="sent").count()
        expected = {
            e.lower() for e in Contact.objects.filter(pk__in=ids).values_list("email", flat=True)
        }
        duplicates = sum(count - 1 for count in received.values() if count > 1)
        lost = len(expected - set(received))
        version = database_version()
    messages_per_s = sent / seconds
    ceiling = n / ceiling_seconds
    log(f"end to end: {messages_per_s:,.0f} messages/s ({messages_per_s / ceiling:.2f} of ceiling)")
    return {
        "bench": "send",
        "database": dataset.vendor,
        "database_version": version,
        "n": contacts,
        "recipients": n,
        "sent": sent,
        "seconds": round(seconds, 2),
        "baseline_seconds": round(ceiling_seconds, 2),
        "messages_per_s": round(messages_per_s, 1),
        "render_only_per_s": round(n / render_seconds, 1),
        "ceiling_messages_per_s": round(ceiling, 1),
        "ratio": round(messages_per_s / ceiling, 3),
        "duplicates": duplicates,
        "lost": lost,
        "cores": os.cpu_count(),
        # CPU per message (ms): where the time goes when the machine is busy.
        "cpu_ms_per_message": cpu,
        "ceiling_cpu_ms_per_message": ceiling_cpu,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
