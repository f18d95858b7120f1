"""`tsunagari collect`: serve only the tracking collect endpoint, on its own port.

For sites whose page views outgrow the web app's threads: an event loop per process answers
each page view once the group commit has it (see tsunagari.tracking.collector). Route
`/t/collect` here from the load balancer, or point the snippet at it (TSUNAGARI_COLLECT_URL).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connections


class Command(BaseCommand):
    help = "Serve the tracking collect endpoint (/t/collect) alone, for high page-view rates."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8001, help="port to listen on")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="collector processes (more than one only with PostgreSQL)",
        )

    def handle(self, *args, host: str, port: int, processes: int, **options):
        from granian.constants import Interfaces
        from granian.log import LogLevels
        from granian.server import Server

        if processes < 1:
            raise CommandError("--processes must be at least 1")
        if processes > 1 and connections["default"].vendor == "sqlite":
            raise CommandError("SQLite has one writer at a time: use --processes 1")
        self.stdout.write(f"Tsunagari collect endpoint on http://{host}:{port}/t/collect")
        self.stdout.flush()
        connections.close_all()  # the collector processes start from a fork of this one
        Server(
            "tsunagari.collector:application",
            address=host,
            port=port,
            interface=Interfaces.RSGI,
            workers=processes,
            websockets=False,
            backlog=2048,
            log_level=LogLevels.error,
            respawn_failed_workers=True,
        ).serve()
