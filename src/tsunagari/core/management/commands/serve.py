"""`tsunagari serve`: migrate, make sure an administrator exists, serve the app and a worker."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tsunagari.core.db import refresh_planner_statistics
from tsunagari.core.services import first_admin_if_none


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
        parser.add_argument("--threads", type=int, default=8, help="web server threads")

    def handle(self, *args, host: str, port: int, no_worker: bool, threads: int, **options):
        from waitress import serve

        from tsunagari.work.worker import start_in_thread
        from tsunagari.wsgi import application

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
        stop = None
        if not no_worker:
            _, stop = start_in_thread()
            self.stdout.write("Embedded worker running.")
        try:
            serve(application, host=host, port=port, threads=threads, ident="tsunagari")
        finally:
            if stop is not None:
                stop.set()
