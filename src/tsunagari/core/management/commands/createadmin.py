"""`tsunagari createadmin`: create an administrator, asking for the password (never a default)."""

from __future__ import annotations

import getpass
import os
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tsunagari.core.roles import Role
from tsunagari.core.services import CoreError, user_create


class Command(BaseCommand):
    help = (
        "Create an administrator; the password is asked for or read from TSUNAGARI_ADMIN_PASSWORD."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, email: str, **options):
        password = os.environ.get("TSUNAGARI_ADMIN_PASSWORD", "")
        if not password:
            if not sys.stdin.isatty():
                raise CommandError(
                    "No terminal to ask for a password: set TSUNAGARI_ADMIN_PASSWORD."
                )
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        try:
            user_create(username=username, password=password, role=Role.ADMIN, email=email)
        except CoreError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Administrator {username!r} created."))
