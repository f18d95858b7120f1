"""Proof that each test leg talks to the real thing it claims: the database, Redis, RabbitMQ."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection


def _declared_leg() -> str:
    """The leg `scripts/test.sh` says it runs, else what DATABASE_URL implies."""
    leg = os.environ.get("TSUNAGARI_TEST_LEG")
    if leg:
        return leg
    return "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"


@pytest.mark.django_db
def test_the_leg_uses_the_database_it_names():
    leg = _declared_leg()
    with connection.cursor() as cursor:
        if leg == "postgres":
            assert connection.vendor == "postgresql"
            cursor.execute("SELECT current_database(), current_setting('server_version_num')")
            name, version = cursor.fetchone()
            # pytest-django's test database (test_tsunagari, or test_tsunagari_gw0 under xdist).
            assert name.startswith("test_")
            assert int(version) >= 150000, "Tsunagari supports PostgreSQL 15 and later"
        else:
            assert leg == "sqlite", f"unknown TSUNAGARI_TEST_LEG={leg!r}"
            assert connection.vendor == "sqlite"
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            # A real file inside the throwaway data directory, never :memory: or a user's data.
            path = Path(connection.settings_dict["NAME"])
            assert path.is_file()
            assert path.resolve().is_relative_to(Path(settings.DATA_DIR).resolve())
            assert path.name.startswith("test.sqlite3")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def test_redis_answers_ping(redis_url):
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert _recv_exactly(sock, 7) == b"+PONG\r\n"


def test_rabbitmq_starts_an_amqp_connection(rabbitmq_url):
    with socket.create_connection(("127.0.0.1", 5672), timeout=5) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")  # protocol header, AMQP 0-9-1
        # Frame header: type (1 = method), channel, payload size.
        frame_type, channel, size = struct.unpack(">BHI", _recv_exactly(sock, 7))
        assert (frame_type, channel) == (1, 0)
        payload = _recv_exactly(sock, size)
        class_id, method_id, major, minor = struct.unpack(">HHBB", payload[:6])
        assert (class_id, method_id) == (10, 10), "expected Connection.Start"
        assert (major, minor) == (0, 9)
        assert _recv_exactly(sock, 1) == b"\xce"  # frame end
