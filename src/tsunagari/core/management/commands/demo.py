"""`tsunagari demo`: load the realistic Japanese B2B demo data set (see tsunagari.demo)."""

from __future__ import annotations

import argparse

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from tsunagari.core.models import User
from tsunagari.core.roles import Role
from tsunagari.demo import generator


def _positive(value: str) -> int:
    number = int(value.replace(",", "").replace("_", ""))
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Load a realistic Japanese B2B demo data set: companies, people, lifecycle history, "
        "consent records, a year of touchpoints and staff users (who cannot log in). The same "
        "--seed gives the same data."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--contacts", type=_positive, default=2000, help="people to create (default 2,000)"
        )
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--append", action="store_true", help="add to the contacts the database already holds"
        )
        mode.add_argument(
            "--reset",
            action="store_true",
            help="delete every account and contact (with history, consent, tags, touchpoints) "
            "first",
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="do not ask before --reset deletes data",
        )

    def handle(
        self,
        *args,
        contacts: int,
        seed: int,
        append: bool,
        reset: bool,
        interactive: bool,
        **options,
    ) -> None:
        # A fresh install has no tables yet; `serve` migrates the same way.
        call_command("migrate", interactive=False, verbosity=0)
        existing = generator.crm_contact_count()
        if existing and not (append or reset):
            raise CommandError(
                f"The database already holds {existing:,} contacts. Add --append to add the demo "
                "data to them, or --reset to delete all accounts and contacts first."
            )
        if reset and existing:
            if interactive:
                answer = input(
                    f"This deletes {existing:,} contacts and all accounts, with their history. "
                    "Type 'yes' to continue: "
                )
                if answer.strip().lower() != "yes":
                    raise CommandError("Nothing was changed.")
            self._progress("deleting the CRM data…")
            generator.crm_reset()

        empty = reset or not existing
        counts = generator.generate(
            contacts=contacts,
            seed=seed,
            progress=self._progress,
            # Building indexes once beats updating them row by row, when nobody else reads.
            drop_indexes=empty and contacts >= 100_000,
        )
        self.stdout.write(
            f"Loaded {counts['contacts']:,} contacts at {counts['accounts']:,} companies "
            f"({counts['transitions']:,} lifecycle changes, {counts['consents']:,} consent "
            f"records, {counts['touchpoints']:,} touchpoints) in {counts['seconds']:.1f} s."
        )
        admins = User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True)
        if not admins.exists():
            self.stdout.write(
                "No administrator exists yet: create one with `tsunagari createadmin` to log in. "
                "The demo staff users have no password."
            )

    def _progress(self, message: str) -> None:
        self.stderr.write(message, style_func=str)
