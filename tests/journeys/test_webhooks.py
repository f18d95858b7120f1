"""Webhook steps against a real local HTTP server: signature, SSRF refusals, retries, time-outs."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time

import pytest
from django.utils import timezone

from tests.crm.factories import make_contact
from tests.journeys.conftest import make_journey, run_all
from tsunagari.journeys import engine, webhooks
from tsunagari.journeys.models import Enrolment, StepRun

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that records requests and answers with `status` (or hangs)."""

    def __init__(self, status: int = 200, hang: float = 0.0):
        self.status, self.hang, self.requests = status, hang, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                if outer.hang:
                    time.sleep(outer.hang)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?x=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _journey(url: str, **step):
    return make_journey(
        {
            "h": {"type": "webhook", "url": url, "next": "t", **step},
            "t": {"type": "tags", "add": ["after"]},
        }
    )


def test_a_signed_call_to_an_allowed_local_server(journey_settings, receiver):
    journey_settings.allow_private_webhooks = True
    journey_settings.save()
    server = receiver()
    person = make_contact("hook@example.jp")
    engine.enrol(_journey(server.url), [person.pk])
    run_all()
    ((headers, body),) = server.requests
    assert webhooks.verify("s3cret", body, headers["X-Tsunagari-Signature"])
    assert not webhooks.verify("wrong", body, headers["X-Tsunagari-Signature"])
    payload = json.loads(body)
    assert payload["contact"] == person.pk and payload["step"] == "h"
    assert headers["X-Tsunagari-Delivery"] == f"journey:{payload['enrolment']}:h"
    assert Enrolment.objects.get().status == "completed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.8/",
    ],
)
def test_private_targets_are_refused_without_the_admin_setting(journey_settings, url):
    person = make_contact("ssrf@example.jp")
    engine.enrol(_journey(url), [person.pk])
    run_all()
    run = StepRun.objects.get(step_key="h")
    assert run.status == "failed" and run.attempts == 1  # refused at once, never retried
    assert Enrolment.objects.get().status == Enrolment.Status.FAILED


def test_a_name_resolving_to_loopback_is_refused():
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.resolve("http://localhost:8000/", allow_private=False)


def test_500_is_retried_with_backoff_then_fails_and_the_enrolment_continues(
    journey_settings, receiver, settings
):
    journey_settings.allow_private_webhooks = True
    journey_settings.save()
    settings.TSUNAGARI_JOURNEY_RETRY_SECONDS = 10
    server = receiver(status=500)
    person = make_contact("retry@example.jp")
    engine.enrol(_journey(server.url, on_failure="continue"), [person.pk])
    dues = []
    for _ in range(engine.MAX_ATTEMPTS):
        StepRun.objects.filter(step_key="h", status="ready").update(due_at=timezone.now())
        started = timezone.now()
        engine.run_steps()
        run = StepRun.objects.get(step_key="h")
        if run.status == "ready":
            dues.append(round((run.due_at - started).total_seconds()))
    assert dues == [10, 20, 40, 80]  # backoff doubles
    run = StepRun.objects.get(step_key="h")
    assert run.status == "failed" and run.last_error == "HTTP 500"
    assert len(server.requests) == engine.MAX_ATTEMPTS
    run_all()
    assert Enrolment.objects.get().status == "completed"  # on_failure: continue


def test_a_hanging_server_times_out_and_is_retried(journey_settings, receiver):
    journey_settings.allow_private_webhooks = True
    journey_settings.save()
    server = receiver(hang=3)
    person = make_contact("hang@example.jp")
    engine.enrol(_journey(server.url, timeout=0.5), [person.pk])
    started = time.monotonic()
    engine.run_steps()
    assert time.monotonic() - started < 3
    run = StepRun.objects.get(step_key="h")
    assert run.status == "ready" and "timed out" in run.last_error.lower()
    assert run.due_at > timezone.now() + dt.timedelta(seconds=5)


def test_other_schemes_and_credentials_are_refused():
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.resolve("ftp://example.jp/", allow_private=True)
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.resolve("http://user:pw@example.jp/", allow_private=True)
