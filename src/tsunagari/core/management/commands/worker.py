"""`tsunagari worker`: claim and run due work (imports now; sending and journeys later)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from tsunagari.work.executors import run_until_idle
from tsunagari.work.worker import run_forever


class Command(BaseCommand):
    help = "Run due work until stopped (Ctrl-C or SIGTERM finishes the current batch)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="run what is due once, then exit")
        parser.add_argument("--idle-sleep", type=float, default=1.0, help="seconds between polls")

    def handle(self, *args, once: bool, idle_sleep: float, **options):
        if once:
            self.stdout.write(f"processed {run_until_idle()}")
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("Worker running; Ctrl-C stops it after the current batch.")
        run_forever(stop, idle_sleep=idle_sleep)
