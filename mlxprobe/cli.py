"""The command line: `mlxprobe list`, `mlxprobe run`.

Job: parse arguments, build run specs from the catalogue, run them one by one, print the
table, write the JSON report. Bad input is one line on stderr and exit code 2; exit 1 when a
verdict differs from its expectation, 0 when all match. Ctrl-C or SIGTERM ends the current
child's tree and writes a partial report (`"complete": false`).

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from . import catalog, report
from .errors import UsageError
from .outcome import execute
from .reporters import table
from .spec import RunSpec, spec_for
from .watchdog import Deadlines

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def build_parser() -> Parser:
    parser = Parser(prog="mlxprobe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    listing = sub.add_parser("list", help="list scenarios, their variants and expectations")
    listing.add_argument("--scenarios", type=Path, help="a folder of scenario modules")
    run = sub.add_parser("run", help="run scenarios under the watchdog")
    _add_run_arguments(run)
    return parser


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    pick = run.add_mutually_exclusive_group(required=True)
    pick.add_argument("--scenario", action="append", metavar="ID", help="repeatable")
    pick.add_argument("--all", action="store_true", help="every scenario")
    run.add_argument("--variant", help="only this variant (e.g. broken, fixed)")
    run.add_argument("--scenarios", type=Path, help="a folder of scenario modules")
    run.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    run.add_argument("--startup-timeout", type=positive, default=Deadlines.startup_s,
                     metavar="S", help="seconds allowed until the first step (compiler time "
                     "not counted)")
    run.add_argument("--step-floor", type=positive, default=Deadlines.step_floor_s,
                     metavar="S", help="minimum seconds allowed between two steps")
    run.add_argument("--step-factor", type=positive, default=Deadlines.step_factor,
                     metavar="K", help="allowed step time = K x the slowest recent step")
    run.add_argument("--budget", type=positive, metavar="S",
                     help="total seconds per variant (default: the scenario's own, or 600)")
    run.add_argument("--max-memory", type=positive, metavar="MB",
                     help="kill a variant whose process tree RSS exceeds this")
    run.add_argument("--quiet", action="store_true", help="only the table")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        return cmd_run(args)
    except UsageError as exc:
        print(f"mlxprobe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_list(args: argparse.Namespace) -> int:
    for s in catalog.discover(args.scenarios):
        expected = ", ".join(f"{v}={e}" for v, e in s.variants.items())
        print(f"{s.id:32s} {expected:45s} {s.title}")
    return EXIT_OK


def specs_from(args: argparse.Namespace) -> list[RunSpec]:
    scenarios = catalog.discover(args.scenarios)
    chosen = scenarios if args.all else [catalog.select(scenarios, s) for s in args.scenario]
    deadlines = Deadlines(startup_s=args.startup_timeout, step_floor_s=args.step_floor,
                          step_factor=args.step_factor,
                          budget_s=args.budget or Deadlines.budget_s)
    if args.variant and not any(args.variant in s.variants for s in chosen):
        catalog.variants_of(chosen[0], args.variant)  # raises with the known variants
    return [spec_for(s, v, deadlines, args.max_memory) for s in chosen
            for v in catalog.variants_of(s, None) if args.variant in (None, v)]


def cmd_run(args: argparse.Namespace) -> int:
    specs = specs_from(args)
    entries: list[dict] = []
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for spec in specs:
            if not args.quiet:
                print(f"running {spec.scenario_id} [{spec.variant}] ...", file=sys.stderr,
                      flush=True)
            entries.append(execute(spec).entry)
    except KeyboardInterrupt:
        _finish(args, entries, complete=False)
        print(f"mlxprobe: interrupted after {len(entries)} of {len(specs)} runs; "
              "partial report written" if args.json else "mlxprobe: interrupted",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    _finish(args, entries, complete=True)
    return EXIT_OK if all(e["matched"] for e in entries) else EXIT_MISMATCH


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _finish(args: argparse.Namespace, entries: list[dict], complete: bool) -> None:
    if args.json:
        report.write(args.json, report.build(entries, complete))
    print(table.render(entries))
    if not args.quiet:
        for entry in entries:
            if not entry["matched"]:
                print("\n" + table.details(entry))
    print("\n" + table.summary(entries))


if __name__ == "__main__":
    sys.exit(main())
