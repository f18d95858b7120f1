"""`tsunagari serve`: migrate, make sure an administrator exists, serve the app and a worker.

The HTTP server is granian: its Rust HTTP layer hands requests to the WSGI app in a worker
process, at several times the requests per second of a pure-Python server — it matters for the
collect endpoint, hit on every page view of every tracked site. The embedded worker runs as a
thread in the (single) web worker process, started by `tsunagari.wsgi` when this command asks.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from tsunagari.core.db import refresh_planner_statistics
from tsunagari.core.services import first_admin_if_none

# Read by tsunagari.wsgi in the web worker process.
EMBED_WORKER_ENV = "TSUNAGARI_EMBEDDED_WORKER"


class Command(BaseCommand):
    help = "Migrate, create the first admin if there is no user, and serve Tsunagari."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not run the embedded worker (run `tsunagari worker` elsewhere)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=64,
            help="threads running requests per process (collect requests wait for a group commit)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="web processes (more than one only with PostgreSQL and --no-worker)",
        )

    def handle(
        self, *args, host: str, port: int, no_worker: bool, threads: int, processes: int, **options
    ):
        from granian.constants import Interfaces
        from granian.log import LogLevels
        from granian.server import Server

        if processes < 1 or threads < 1:
            raise CommandError("--processes and --threads must be at least 1")
        if processes > 1 and not no_worker:
            raise CommandError("with --processes > 1, add --no-worker and run `tsunagari worker`")
        call_command("migrate", interactive=False, verbosity=0)
        refresh_planner_statistics()
        created = first_admin_if_none()
        shown_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104
        url = f"http://{shown_host}:{port}/"
        if created:
            user, password = created
            self.stdout.write(
                self.style.SUCCESS(
                    "\nFirst run: an administrator was created.\n"
                    f"  log in at {url}login/\n  username: {user.username}\n"
                    f"  password: {password}\n"
                    "Change the password after logging in (top bar → Password). "
                    "It is shown only this once.\n"
                )
            )
        self.stdout.write(
            f"Tsunagari on {url} (data: {settings.DATA_DIR}, "
            f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})"
        )
        if no_worker:
            os.environ.pop(EMBED_WORKER_ENV, None)
        else:
            os.environ[EMBED_WORKER_ENV] = "1"
            self.stdout.write("Embedded worker running.")
        self.stdout.flush()
        # The web process starts from a fork of this one: it must not share our connections.
        connections.close_all()
        Server(
            "tsunagari.wsgi:application",
            address=host,
            port=port,
            interface=Interfaces.WSGI,
            workers=processes,
            blocking_threads=threads,
            backlog=2048,
            log_level=LogLevels.error,  # not its advice on thread counts: ours wait on commits
            respawn_failed_workers=True,
        ).serve()
