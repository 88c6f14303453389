"""`mlxprobe run`: run scenario variants under the watchdog, print the table, write the report.

Exit 0 when every verdict matched its expectation, 1 when one did not, 130 when interrupted
(Ctrl-C or SIGTERM end the current child's tree and a partial report is written).

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .. import catalog, matrix, report
from ..outcome import Outcome
from ..reporters import table
from ..spec import RunSpec, spec_for
from ..watchdog import Deadlines
from .options import positive

NAME = "run"
HELP = "run scenarios under the watchdog"
EXIT_OK, EXIT_MISMATCH, EXIT_INTERRUPTED = 0, 1, 130


def add_arguments(run: argparse.ArgumentParser) -> None:
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
    run.add_argument("--jobs", type=jobs_count, default=matrix.auto_jobs(), metavar="N",
                     help="variants run in parallel (default: one per core, at most "
                     f"{matrix.MAX_AUTO_JOBS}; 1 for the steadiest timings)")
    run.add_argument("--quiet", action="store_true", help="only the table")


def jobs_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1")
    return int(text)


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


def run(args: argparse.Namespace) -> int:
    specs = specs_from(args)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        outcomes = matrix.run_all(specs, args.jobs, None if args.quiet else _progress)
    except matrix.Interrupted as stop:
        entries = [o.entry for o in stop.finished]
        _finish(args, entries, complete=False)
        print(f"mlxprobe: interrupted after {len(entries)} of {len(specs)} runs"
              + ("; partial report written" if args.json else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    entries = [o.entry for o in outcomes]
    _finish(args, entries, complete=True)
    return EXIT_OK if all(e["matched"] for e in entries) else EXIT_MISMATCH


def _progress(outcome: Outcome) -> None:
    spec, raw = outcome.spec, outcome.raw
    mark = "ok" if outcome.matched else "MISMATCH"
    print(f"{spec.scenario_id} [{spec.variant}]: {outcome.verdict.label} ({mark}, "
          f"{raw.wall_s:.1f} s)", file=sys.stderr, flush=True)


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
