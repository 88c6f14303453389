"""The command line: `mlxprobe <command>`, one module per command in `mlxprobe.commands`.

Job: build the parser from the registered commands (its first screen: `commands.overview`;
`--version`: `commands.versions`) and dispatch. Bad input is one line on stderr and exit
code 2, never a traceback.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import sys

from .commands import (
    attach,
    compare,
    gate,
    lint,
    listing,
    overview,
    report,
    running,
    versions,
    watch,
)
from .errors import UsageError

COMMANDS = (watch, attach, lint, running, gate, compare, report, listing)  # overview.ORDER
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> Parser:
    parser = Parser(prog="mlxprobe", usage="mlxprobe [-h] [--version] COMMAND ...",
                    description=overview.text([c.NAME for c in COMMANDS]),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Versions, nargs=0,
                        help="mlxprobe's, mlx's and Python's versions and the backend")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                metavar="COMMAND", help=argparse.SUPPRESS)
    for command in COMMANDS:
        command.add_arguments(sub.add_parser(command.NAME, description=command.HELP))
    return parser


class _Versions(argparse.Action):
    """`--version`: printed when asked (it starts a child to ask mlx for its backend)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        print(versions.text())
        parser.exit(0)


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
