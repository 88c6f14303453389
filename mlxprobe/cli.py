"""The command line: `mlxprobe <command>`, one module per command in `mlxprobe.commands`.

Job: build the parser from the registered commands and dispatch. Bad input is one line on
stderr and exit code 2, never a traceback.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import sys

from .commands import compare, gate, lint, listing, report, running, watch
from .errors import UsageError

COMMANDS = (listing, running, watch, compare, gate, report, lint)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> Parser:
    parser = Parser(prog="mlxprobe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_arguments(sub.add_parser(command.NAME, help=command.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command = next(c for c in COMMANDS if c.NAME == args.command)
        return command.run(args)
    except UsageError as exc:
        print(f"mlxprobe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an unreadable or unwritable path: one line, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"mlxprobe: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a run (during discovery, in a report)
        print("mlxprobe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
