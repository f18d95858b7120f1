"""Browser tests: the real app served by waitress with its embedded worker, driven in Chromium.

Every test here is marked `e2e`. They need Debian's Chromium at /usr/bin/chromium (Playwright's
own browser download is never used); without it they are skipped, or, with CI=true, errors.
A screenshot of each test's last page goes to var/e2e/<test>.png, passed or failed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import in_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e"
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # Anything under tests/e2e is a browser test, marked or not, so `-m "not e2e"` leaves it out.
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"browser tests cannot run: {problem}; CI=true requires them", False)
        pytest.skip(f"browser tests skipped: {problem}")
    return str(CHROMIUM)


def _stop_waitress(server) -> None:
    """Close every socket from inside the server's own loop thread, then stop its threads."""
    from waitress import wasyncore

    socket_map = server._map
    server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map, ignore_all=True))
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)


@pytest.fixture
def app_server(transactional_db) -> Iterator[str]:
    """The WSGI app on a free loopback port, against the test database, with the worker running.

    Other threads see what the test commits, so this needs `transactional_db` (a real SQLite
    file or PostgreSQL; tables are emptied after the test).
    """
    from django.db import connections
    from waitress import create_server

    from tsunagari.work.worker import start_in_thread
    from tsunagari.wsgi import application  # what `tsunagari serve` serves, fast path included

    server = create_server(application, host="127.0.0.1", port=0, threads=4)
    server_thread = threading.Thread(target=server.run, name="e2e-waitress", daemon=True)
    server_thread.start()
    worker_thread, stop_worker = start_in_thread()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop_worker.set()
        worker_thread.join(timeout=30)
        _stop_waitress(server)
        server_thread.join(timeout=10)
        connections.close_all()
        assert not worker_thread.is_alive(), "the embedded worker did not stop within 30 s"
        assert not server_thread.is_alive(), "waitress did not stop within 10 s"


@pytest.fixture
def page(request, chromium_executable, app_server, monkeypatch):
    """A Chromium page (Japanese locale, like the product's users) whose base URL is the app."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread; the test's own ORM calls
    # (creating users, reading results) are plain synchronous code, so allow them here only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            base_url=app_server, locale="ja-JP", viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        browser_page = context.new_page()
        try:
            yield browser_page
        finally:
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            try:
                browser_page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            except Exception as exc:  # a screenshot must never hide the test's own result
                print(f"screenshot of {name} failed: {exc}")
            context.close()
            browser.close()
