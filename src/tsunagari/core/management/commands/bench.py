"""`tsunagari bench NAME`: run bench/NAME.py; progress on stderr, figures as JSON last on stdout."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import re
from types import ModuleType

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

# Module names that are Python keywords carry a trailing underscore (bench/import_.py).
_KEYWORDS = {"import": "import_"}
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def available() -> list[str]:
    import bench

    return sorted(
        name.rstrip("_")
        for _, name, is_package in pkgutil.iter_modules(bench.__path__)
        if not is_package and name != "common"
    )


def load(name: str) -> ModuleType:
    """The benchmark module for NAME, or CommandError listing the ones there are."""
    module_name = _KEYWORDS.get(name, name)
    choices = ", ".join(available())
    if not _NAME.match(name) or name == "common":
        raise CommandError(f"Unknown benchmark {name!r}; there are: {choices}")
    try:
        module = importlib.import_module(f"bench.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{module_name}":
            raise
        raise CommandError(f"Unknown benchmark {name!r}; there are: {choices}") from None
    if not callable(getattr(module, "run", None)):
        raise CommandError(f"bench/{module_name}.py has no run(*, contacts, fresh, database)")
    return module


def _positive(value: str) -> int:
    number = int(value.replace(",", "").replace("_", ""))
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Run a benchmark on the database of DATABASE_URL and print its figures; the last line "
        "of stdout is one JSON object (see docs/benchmarks.md)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the benchmark: a module of bench/, e.g. lists, import")
        parser.add_argument(
            "--contacts", type=_positive, help="data-set size (default: the benchmark's own)"
        )
        parser.add_argument(
            "--fresh", action="store_true", help="rebuild the cached data set instead of reusing it"
        )

    def handle(self, *args, name: str, contacts: int | None, fresh: bool, **options) -> None:
        module = load(name)
        size = contacts or getattr(module, "DEFAULT_CONTACTS", 1_000_000)
        result = module.run(contacts=size, fresh=fresh, database=connection.vendor)
        self.stdout.write(json.dumps(result, ensure_ascii=False))
