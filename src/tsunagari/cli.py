"""The `tsunagari` command: serve, collect, worker, demo, createadmin, bench, and `manage`."""

from __future__ import annotations

import os
import sys

COMMANDS = {
    "serve": "migrate, create the first admin if none, and serve the web app with a worker",
    "collect": "serve only the tracking collect endpoint, for high page-view rates",
    "worker": "run due work (imports, sending, journeys) until stopped",
    "demo": "load a realistic Japanese B2B demo data set",
    "createadmin": "create an administrator account",
    "bench": "run a benchmark and print its figures (last line: JSON)",
    "manage": "any Django management command, e.g. `tsunagari manage migrate`",
}


def usage() -> str:
    lines = ["usage: tsunagari COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, text in COMMANDS.items()]
    lines += ["", "`tsunagari COMMAND --help` explains a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsunagari.settings")
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"tsunagari: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import execute_from_command_line

    if command == "manage":
        execute_from_command_line(["tsunagari manage", *rest])
    else:
        execute_from_command_line(["tsunagari", command, *rest])


if __name__ == "__main__":
    main()
