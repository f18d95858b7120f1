"""Shared fixtures: a user per role (personas), logged-in clients, quick password hashing, and
the services a test may need (Redis, RabbitMQ, the PostgreSQL leg; see docs/testing.md)."""

from __future__ import annotations

import os
import socket

import pytest
from django.db import connection
from django.test import Client
from django.utils import translation

from tsunagari.core.models import User
from tsunagari.core.roles import Role


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Argon2 is the production hasher; tests need many users, not slow hashes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db):
    def make(role: str = Role.MARKETING, username: str | None = None, **extra) -> User:
        name = username or f"{role}-{User.objects.count() + 1}"
        return User.objects.create_user(
            username=name, password="correct horse battery", role=role, **extra
        )

    return make


@pytest.fixture
def admin_user(make_user) -> User:
    return make_user(Role.ADMIN, username="admin")


@pytest.fixture
def marketer(make_user) -> User:
    return make_user(Role.MARKETING, username="marketer")


@pytest.fixture
def reader(make_user) -> User:
    return make_user(Role.READ_ONLY, username="reader")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_(admin_user) -> Client:
    return client_for(admin_user)


@pytest.fixture
def marketer_client(marketer) -> Client:
    return client_for(marketer)


@pytest.fixture
def reader_client(reader) -> Client:
    return client_for(reader)


# --- The test legs and the services they run against (see docs/testing.md) -------------------


def in_ci() -> bool:
    """True when CI=true: a service a test needs must then be up, never skipped."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = db.get("TEST", {}).get("NAME") or f"test_{db.get('NAME')}"
    leg = os.environ.get("TSUNAGARI_TEST_LEG", "(not set: plain pytest)")
    return [f"tsunagari: leg {leg}; database {db['ENGINE'].rsplit('.', 1)[-1]} → {where}"]


def _port_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) when a service's port does not accept connections."""
    if _port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it (.ci/run starts it)", pytrace=False)
    pytest.skip(f"{message} (start it, or run with CI=true to make this an error)")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return "redis://127.0.0.1:6379/0"


@pytest.fixture
def rabbitmq_url() -> str:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    return "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(autouse=True)
def _service_markers(request):
    """`@pytest.mark.redis`, `rabbitmq` and `postgres` declare what a test needs."""
    node = request.node
    if node.get_closest_marker("redis"):
        request.getfixturevalue("redis_url")
    if node.get_closest_marker("rabbitmq"):
        request.getfixturevalue("rabbitmq_url")
    if node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        # Not a silent gap: under CI=true `make test` always runs the PostgreSQL leg too.
        pytest.skip("runs in the PostgreSQL leg (DATABASE_URL=postgres://…)")


@pytest.fixture(autouse=True)
def _fresh_ip_ranges():
    """The in-memory company IP ranges (tracking.sites) start empty for each test: a range an
    earlier test saved and rolled back would otherwise name an account that does not exist."""
    from tsunagari.tracking.sites import range_cache

    range_cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language (ja), whatever an earlier test activated.

    A request through the test client leaves its language active in the thread, so without
    this a test's outcome could depend on which tests ran before it in the same process.
    """
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def english():
    """For tests that match English messages: the UI's default language is Japanese."""
    with translation.override("en"):
        yield


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) that Django's SMTP backend delivers to in this test.

    Yields the sink: `.messages` (each with `.message`, a parsed EmailMessage, and the envelope),
    `.to(address)`, `.wait_for(n)`, and `.reply` to make it refuse with another code.
    """
    from tests.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield server.sink
    finally:
        server.stop()
