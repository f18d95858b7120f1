"""`tsunagari bench ingest`: the collect endpoint under load, with a server crash mid-run.

A real `tsunagari serve` (granian, the group-commit writer) takes page views over
loopback from load-generator processes, each request exactly what the snippet sends for one
page view. Two phases on the same server:

1. Capacity: every browser sends its next page view as soon as the last is answered.
   Part-way through, the server is killed with SIGKILL and started again; clients retry what
   failed. `events_per_s` is what this phase got acknowledged.
2. Latency: the same browsers send on a fixed schedule at the issue's target rate (2,000/s on
   SQLite, 5,000/s on PostgreSQL, or TSUNAGARI_BENCH_INGEST_RATE); `p50_ms`/`p99_ms` count from
   when each request was due. Latency at saturation (phase 1) only measures the queue of
   waiting browsers, so it is printed apart (`saturated_p50_ms`, `saturated_p99_ms`).

Afterwards every acknowledged (2xx) request must be in the database: `lost` counts the
acknowledged hits that are not. The baseline is the machine's ceiling for the same work: a
raw bulk insert of the same number of rows into the same table.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

DEFAULT_CONTACTS = 0  # the data set plays no part: ingestion writes into an empty stream
ORIGIN = "https://bench.example.co.jp"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
CLIENT_PROCESSES = 2
CONNECTIONS_PER_CLIENT = 64  # browsers per load-generator process
SERVER_THREADS = 64
WARM_UP_SECONDS = 0.5  # paced clients: time to open their connections before the schedule


def log(message: str) -> None:
    print(f"[bench ingest] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bench_database() -> tuple[str, dict]:
    """A fresh database for this run on the configured server (SQLite file or PostgreSQL)."""
    default = connections["default"].settings_dict
    if connection.vendor == "sqlite":
        # One file per run, as one database per run on PostgreSQL below: two runs at once (two
        # test processes) must not delete each other's.
        path = Path(settings.DATA_DIR) / "bench" / f"ingest-{os.getpid()}.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}", {**default, "NAME": str(path)}

    # One database per run: two runs at once (two test processes) must not drop each other's.
    name = f"tsunagari_bench_ingest_{os.getpid()}"
    with _maintenance_connection(default) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    user = default.get("USER") or "postgres"
    password = f":{default['PASSWORD']}" if default.get("PASSWORD") else ""
    host = default.get("HOST") or "127.0.0.1"
    port = default.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name}", {**default, "NAME": name}


def _maintenance_connection(default: dict):
    """The server's maintenance database: the one DATABASE_URL names may not exist yet."""
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=default.get("USER") or None,
        password=default.get("PASSWORD") or None,
        host=default.get("HOST") or None,
        port=default.get("PORT") or None,
        autocommit=True,
    )


def _drop_bench_database(config: dict) -> None:
    connections["default"].close()
    if connection.vendor == "postgresql":
        with _maintenance_connection(config) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config['NAME']}{suffix}").unlink(missing_ok=True)


def _point_default_at(config: dict) -> None:
    connections["default"].close()
    connections["default"].settings_dict.update(config)


def _server_processes() -> int:
    """Server processes; TSUNAGARI_BENCH_INGEST_PROCESSES overrides the default.

    The collect server: one. Its event loop and writer thread keep one core busy at this
    rate, and on a 2-core machine the load generator and PostgreSQL need the other (two
    processes measured slower here: more, smaller group commits). The web app (`serve`): one
    on SQLite (one writer at a time anyway), one per core on PostgreSQL, as docs/scaling.md
    deploys it.
    """
    if _server_command() == "collect" or connection.vendor == "sqlite":
        default = 1
    else:
        default = max(1, min(4, os.cpu_count() or 1))
    return int(os.environ.get("TSUNAGARI_BENCH_INGEST_PROCESSES", default))


def _server_command() -> str:
    """Which server takes the page views: `collect` (the collect server, as docs/scaling.md
    deploys it for high page-view rates) or `serve` (the web app's own /t/collect)."""
    command = os.environ.get("TSUNAGARI_BENCH_INGEST_SERVER", "collect")
    if command not in {"collect", "serve"}:
        raise ValueError("TSUNAGARI_BENCH_INGEST_SERVER must be collect or serve")
    return command


def _start_server(database_url: str, port: int, processes: int = 1) -> subprocess.Popen:
    # All load comes from 127.0.0.1: lift the per-address limit, which is not what is measured.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "TSUNAGARI_COLLECT_RATE": "1000000",
        "TSUNAGARI_COLLECT_BURST": "1000000",
    }
    command = [sys.executable, "-m", "tsunagari.cli", _server_command(), "--port", str(port)]
    if _server_command() == "serve":
        command += ["--no-worker", "--threads", str(SERVER_THREADS)]
    process = subprocess.Popen(
        [*command, "--processes", str(processes)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the web process dies with it
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("the server did not start within 60 s")


def _request(port: int, body: bytes) -> bytes:
    """The bytes a browser sends for one page view (sendBeacon/fetch keepalive, HTTP/1.1)."""
    head = (
        f"POST /t/collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\n"
        f"User-Agent: {CHROME}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Browser:
    """One browser on one keep-alive HTTP/1.1 connection, an asyncio protocol.

    Driven by callbacks rather than a coroutine and a timer per request: on a 2-core machine
    the load generator shares the cores with the server it measures, and every microsecond it
    spends per request is taken from the server. Closed loop (no schedule), the next page
    view is written as soon as the last is answered; on a schedule, `_client`'s ticker writes
    it when it is due.
    """

    def __init__(self, requests: list[bytes], record, closed_loop: bool) -> None:
        self.requests = requests
        self.record = record  # record(ok, seconds since the request was due)
        self.closed_loop = closed_loop
        self.transport = None
        self.connecting = False
        self.buffer = b""
        self.sent = 0
        self.in_flight = False
        self.due = 0.0  # when the request in flight was due (its latency counts from there)
        self.written = 0.0  # when it was written (for the timeout)

    def send(self, due: float) -> None:
        self.in_flight, self.due, self.written = True, due, time.perf_counter()
        self.transport.write(self.requests[self.sent % len(self.requests)])
        self.sent += 1

    # asyncio.Protocol's interface
    def connection_made(self, transport) -> None:
        self.transport, self.connecting, self.buffer = transport, False, b""
        if self.closed_loop:
            self.send(time.perf_counter())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if self.in_flight:
                self.in_flight = False
                now = time.perf_counter()
                self.record(200 <= int(head.split(b" ", 2)[1]) < 300, now - self.due)
                if self.closed_loop and self.transport is not None:
                    self.send(now)

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.in_flight:
            self.in_flight = False
            self.record(False, 0.0)

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def _client(port: int, stop, seed: int, results, ready, rate: float = 0.0) -> None:
    """One load-generator process: keep-alive connections, each one browser's page views.

    With `rate` (requests per second for this process) each browser sends on a fixed schedule
    and a request's latency counts from when it was due, so a slow answer is not hidden by
    the requests it delayed; without, each browser sends its next page view as soon as the
    last is answered.
    """
    latencies: list[float] = []
    counts = {"acked": 0, "failed": 0}
    interval = CONNECTIONS_PER_CLIENT / rate if rate else 0.0
    tick = 0.001 if interval else 0.05  # the schedule's resolution; timeouts and reconnects

    def record(ok: bool, seconds: float) -> None:
        if ok:
            counts["acked"] += 1
            latencies.append(seconds)
        else:
            counts["failed"] += 1

    def browser(index: int) -> _Browser:
        uids = [secrets.token_hex(16) for _ in range(20)]
        # What this browser sends, request by request: 20 visitors, 40 product pages. Built
        # once: encoding a page view is the browser's work, not the load generator's.
        requests = [
            _request(
                port,
                json.dumps(
                    {
                        "k": "pv",
                        "v": uids[i % len(uids)],
                        "u": f"{ORIGIN}/products/{(seed + index + i) % 40}?utm_source=bench",
                        "t": "製品紹介 | Bench",
                        "r": "https://www.google.com/",
                        "s": "1920x1080",
                        "c": 1,
                    }
                ).encode(),
            )
            for i in range(40)
        ]
        return _Browser(requests, record, closed_loop=not interval)

    parent = os.getppid()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        browsers = [browser(i) for i in range(CONNECTIONS_PER_CLIENT)]

        async def connect(b: _Browser) -> None:
            b.connecting = True
            try:
                await loop.create_connection(lambda: b, "127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)  # the server is restarting: try again later
                b.connecting = False

        # Connections first, then the schedule: a site's visitors do not all connect in the
        # same tenth of a second, so opening 128 at once is not what is measured.
        await asyncio.gather(*(connect(b) for b in browsers))
        start = time.perf_counter() + (WARM_UP_SECONDS if interval else 0.0)
        due = [start + interval * i / len(browsers) for i in range(len(browsers))]
        checked = start
        reconnecting: set[asyncio.Task] = set()
        while not stop.is_set():
            now = time.perf_counter()
            for i, b in enumerate(browsers):
                if b.transport is None:
                    if not b.connecting:
                        task = loop.create_task(connect(b))
                        reconnecting.add(task)
                        task.add_done_callback(reconnecting.discard)
                elif b.in_flight:
                    if now - b.written > 15:  # no answer: count it failed, reconnect
                        b.transport.close()
                elif interval and due[i] <= now:
                    b.send(due[i])
                    due[i] += interval
            if now - checked > 0.5:
                checked = now
                if os.getppid() != parent:  # a bench killed from outside cannot set `stop`
                    break
            await asyncio.sleep(tick)
        for b in browsers:
            if b.transport is not None:
                b.in_flight = False  # stopped waiting, not failed: it may well be stored
                b.transport.close()

    # Start together, once every load generator has started: a process still importing takes
    # a core from the server, which a schedule already running would count as its latency.
    ready.wait()
    began = time.perf_counter()
    _run_loop(main())
    if os.getppid() != parent:
        return  # nobody reads the results (and a large put would wait for a reader)
    seconds = time.perf_counter() - began - (WARM_UP_SECONDS if interval else 0.0)
    results.put({**counts, "latencies": latencies, "seconds": seconds})


def _run_loop(coroutine) -> None:
    """Run the load generator on uvloop where it is installed (a dependency of the collect
    server): its C transports cost the cores the server shares less than asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) each process has used so far, from /proc (Linux)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings, over the processes alive at both (a connection
    opened and closed meanwhile, like the site cache's every few seconds, is left out)."""
    return sum(after[pid] - before[pid] for pid in after.keys() & before.keys())


def _process_group(pgid: int) -> list[int]:
    pids: list[int] = []
    if not Path("/proc").is_dir():
        return pids  # not Linux: no CPU figures
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _database_backends(config: dict) -> list[int]:
    """The PostgreSQL server processes serving the bench database, when it runs here."""
    if connection.vendor != "postgresql" or (config.get("HOST") or "127.0.0.1") not in {
        "127.0.0.1",
        "localhost",
        "::1",
    }:
        return []
    with _maintenance_connection(config) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [config["NAME"]]
        ).fetchall()
    return [pid for (pid,) in rows]


def _latency_rate() -> float:
    """Requests/s offered while measuring latency: the tracking issue's throughput target."""
    default = 2000 if connection.vendor == "sqlite" else 5000
    return float(os.environ.get("TSUNAGARI_BENCH_INGEST_RATE", default))


def _quantiles(latencies: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    if len(latencies) < 2:
        return (round(latencies[0] * 1000, 2),) * 2 if latencies else (0.0, 0.0)
    q = statistics.quantiles(latencies, n=100)
    return round(q[49] * 1000, 2), round(q[98] * 1000, 2)


def _first_hit_stored(timeout: float = 120.0) -> float:
    """Wait until the server has stored a hit; the moment it has (time.monotonic())."""
    from tsunagari.tracking.models import Touchpoint

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Touchpoint.objects.exists():
            return time.monotonic()
        connections["default"].close()
        time.sleep(0.05)
    raise RuntimeError(f"no hit was stored within {timeout:.0f} s of starting the clients")


def _ceiling(rows: int) -> float:
    """Seconds for a raw bulk insert of `rows` page-view rows into the touchpoint table."""
    now = timezone.now()
    columns = (
        "type, channel, occurred_at, received_at, source, campaign, url, path, title, referrer, "
        "utm_source, utm_medium, utm_campaign, utm_term, utm_content, content_asset, is_bot, "
        "properties"
    )
    row = (
        "page_view",
        "web",
        now,
        now,
        ORIGIN,
        "",
        f"{ORIGIN}/products/1?utm_source=bench",
        "/products/1",
        "製品紹介 | Bench",
        "https://www.google.com/",
        "bench",
        "",
        "",
        "",
        "",
        "",
        False,
        '{"screen": "1920x1080"}',
    )
    placeholders = ", ".join(["%s"] * len(row))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.executemany(
            f"INSERT INTO tracking_touchpoint ({columns}) VALUES ({placeholders})",
            [row] * rows,
        )
        cursor.execute("COMMIT")
    return time.perf_counter() - started


def run(*, contacts: int = 0, fresh: bool = False, database: str = "") -> dict:
    from django.core.management import call_command

    from tsunagari.tracking.models import Touchpoint, TrackedSite

    duration = float(os.environ.get("TSUNAGARI_BENCH_INGEST_SECONDS", "20"))
    url, config = _bench_database()
    _point_default_at(config)
    log(f"fresh database {config['NAME']}; migrating")
    call_command("migrate", interactive=False, verbosity=0)
    TrackedSite.objects.create(name="bench", origin=ORIGIN)

    port = _free_port()
    processes = _server_processes()
    server = _start_server(url, port, processes)
    shape = f"{CLIENT_PROCESSES}×{CONNECTIONS_PER_CLIENT}"
    log(f"server on 127.0.0.1:{port} ({processes} processes); {shape} clients, {duration:.0f} s")
    context = multiprocessing.get_context("spawn")

    def start_clients(rate: float = 0.0):
        results, stop = context.Queue(), context.Event()
        ready = context.Barrier(CLIENT_PROCESSES + 1)
        clients = [
            context.Process(target=_client, args=(port, stop, i * 1000, results, ready, rate))
            for i in range(CLIENT_PROCESSES)
        ]
        for c in clients:
            c.start()
        ready.wait(timeout=120)
        return clients, results, stop

    def stop_clients(clients, results, stop) -> list[dict]:
        stop.set()
        outcomes = [results.get() for _ in clients]
        for c in clients:
            c.join()
        return outcomes

    # Capacity: browsers as fast as the server answers, a SIGKILL and restart in the middle.
    running = start_clients()
    # The clock starts with the first stored hit: client processes take a moment to start.
    started = _first_hit_stored()
    time.sleep(duration * 0.4)
    log("killing the server (SIGKILL to all its processes) mid-run")
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    server = _start_server(url, port, processes)
    log("server restarted")
    # Run on after the restart long enough to see hits stored by the new server.
    time.sleep(duration * 0.6)
    outcomes = stop_clients(*running)
    elapsed = time.monotonic() - started
    # Latency at the target rate: the same browsers on a schedule, below saturation.
    rate = _latency_rate()
    log(f"latency at {rate:,.0f} requests/s for {duration / 2:.0f} s")
    running = start_clients(rate / CLIENT_PROCESSES)
    # Where the CPU goes while the rate is held: web server, database, load generator. Read
    # once the schedule runs (the writers reconnect to the database when hits come again).
    settle = min(WARM_UP_SECONDS + 0.5, duration / 4)
    time.sleep(settle)
    measured = {
        "server": _process_group(server.pid),
        "database": _database_backends(config),
        "load_generator": [c.pid for c in running[0]] if Path("/proc").is_dir() else [],
    }
    cpu_before = {part: _cpu_seconds(pids) for part, pids in measured.items()}
    time.sleep(duration / 2 - settle)
    cpu_used = {
        part: _cpu_used(cpu_before[part], _cpu_seconds(pids)) for part, pids in measured.items()
    }
    paced = stop_clients(*running)
    # Each client's own running time: starting a process is not the server's time.
    paced_elapsed = statistics.fmean(o["seconds"] for o in paced)
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)

    acked = sum(o["acked"] for o in outcomes)
    paced_acked = sum(o["acked"] for o in paced)
    failed = sum(o["failed"] for o in (*outcomes, *paced))
    paced_failed = sum(o["failed"] for o in paced)
    saturated = _quantiles([x for o in outcomes for x in o["latencies"]])
    latency = _quantiles([x for o in paced for x in o["latencies"]])
    connections["default"].close()
    stored = Touchpoint.objects.filter(type="page_view").count()
    lost = max(0, acked + paced_acked - stored)
    log(f"acked {acked}, failed {failed}, stored {stored}, lost {lost}")
    baseline = _ceiling(stored or 1)
    events_per_s = acked / elapsed
    ceiling = (stored or 1) / baseline
    vendor = connection.vendor
    _drop_bench_database(config)
    return {
        "bench": "ingest",
        "database": vendor,
        "n": acked,
        "seconds": round(elapsed, 3),
        "baseline_seconds": round(baseline, 3),
        "ratio": round(ceiling / events_per_s, 2),
        "requests_per_s": round(acked / elapsed, 1),
        "events_per_s": round(events_per_s, 1),
        "ceiling_events_per_s": round(ceiling, 1),
        # Latency at the target rate (`latency_rate_per_s` offered, `latency_achieved_per_s`
        # answered), and at saturation during the capacity run, for comparison.
        "p50_ms": latency[0],
        "p99_ms": latency[1],
        "latency_rate_per_s": round(rate, 1),
        "latency_achieved_per_s": round(paced_acked / paced_elapsed, 1),
        "latency_failed_requests": paced_failed,
        # CPU per answered request while the rate was held (Linux; the database's only when
        # PostgreSQL runs on this machine): on a shared 2-core machine, where the time goes.
        "cpu_us_per_request": {
            part: round(seconds / max(paced_acked, 1) * 1e6, 1)
            for part, seconds in cpu_used.items()
            if measured[part]
        },
        "saturated_p50_ms": saturated[0],
        "saturated_p99_ms": saturated[1],
        "acked": acked + paced_acked,
        "failed_requests": failed,
        "stored": stored,
        "lost": lost,
        "server_restarts": 1,
        "server": _server_command(),
        "server_processes": processes,
    }
