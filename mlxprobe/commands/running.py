"""`mlxprobe run`: run scenario variants under the watchdog, print the table, write the report.

Exit 0 when every verdict matched its expectation, 1 when one did not, 130 when interrupted
(Ctrl-C or SIGTERM end the current child's tree and a partial report is written; each run
the interruption ended is printed and kept under `interrupted_runs` with the verdict
`interrupted` and what its processes were doing).

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import UsageError
from ..judging.verdict import classify
from ..launching import catalog, settings
from ..launching.spec import RunSpec, native_paths, spec_for
from ..native import build
from ..pipeline import matrix
from ..pipeline.outcome import Outcome
from ..reporters import ansi, html, live, summary_md, table
from ..results import fingerprint, report, textfile

NAME = "run"
HELP = "run scenarios under the watchdog"
EXIT_OK, EXIT_MISMATCH, EXIT_INTERRUPTED = 0, 1, 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_arguments(run: argparse.ArgumentParser) -> None:
    pick = run.add_mutually_exclusive_group()
    pick.add_argument("--scenario", action="append", metavar="ID", help="repeatable")
    pick.add_argument("--all", action="store_true", help="every scenario")
    run.add_argument("--tag", action="append", metavar="TAG", help="every scenario carrying "
                     "this tag (repeatable: any of them; alone or with --all), e.g. upstream")
    run.add_argument("--variant", help="only this variant (e.g. broken, fixed)")
    run.add_argument("--scenarios", type=Path, help="a folder of scenario modules")
    run.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here "
                     "(an existing folder: a file in it named by the environment fingerprint)")
    run.add_argument("--repeat", type=jobs_count, default=1, metavar="N",
                     help="run every variant N times; the report keeps each run")
    settings.add_run_options(run)
    run.add_argument("--jobs", type=jobs_count, default=matrix.auto_jobs(), metavar="N",
                     help="variants run in parallel (default: one per core, at most "
                     f"{matrix.MAX_AUTO_JOBS}; 1 for the steadiest timings)")
    run.add_argument("--quiet", action="store_true", help="only the table")
    run.add_argument("--html", type=Path, metavar="PATH",
                     help="write a self-contained HTML report with plots (needs matplotlib)")
    run.add_argument("--markdown", type=Path, metavar="PATH",
                     help="write a Markdown summary (e.g. for a CI step summary)")
    run.add_argument("--no-color", action="store_true",
                     help="no colour in the terminal (also: NO_COLOR=1)")


def jobs_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1")
    return int(text)


def specs_from(args: argparse.Namespace) -> list[RunSpec]:
    chosen = buildable(chosen_scenarios(args), explicit=bool(args.scenario))
    deadlines, max_memory = settings.deadlines_from(args)
    if args.variant and not any(args.variant in s.variants for s in chosen):
        catalog.variants_of(chosen[0], args.variant)  # raises with the known variants
    once = [spec_for(s, v, deadlines, max_memory) for s in chosen
            for v in catalog.variants_of(s, None) if args.variant in (None, v)]
    return [replace(spec, repeat=r) for r in range(args.repeat) for spec in once]


def buildable(chosen: list[catalog.Scenario], explicit: bool) -> list[catalog.Scenario]:
    """The scenarios that can run here, native programs built before the runs (once, cached).
    A native scenario that cannot be built: one line and exit 2 when asked for by id, else
    skipped with a warning line naming what to install (never a silent pass)."""
    kept = []
    for scenario in chosen:
        if scenario.native:
            try:
                native_paths(scenario.import_root, scenario.module, scenario.native)
            except build.NativeUnavailable as exc:
                if explicit:
                    raise
                print(f"mlxprobe: warning: skipped {scenario.id}: {exc}", file=sys.stderr)
                continue
        kept.append(scenario)
    if not kept:
        raise UsageError("nothing to run: every chosen scenario was skipped")
    return kept


def chosen_scenarios(args: argparse.Namespace) -> list[catalog.Scenario]:
    """--scenario ID..., or --all and/or --tag TAG... (one of them is required)."""
    tags = getattr(args, "tag", None)
    if args.scenario and tags:
        raise UsageError("--tag selects from the whole catalogue: use it alone or with --all, "
                         "not with --scenario")
    if args.scenario:
        return _picked(args)
    if not (args.all or tags):
        raise UsageError("one of --scenario ID, --all or --tag TAG is required")
    scenarios = catalog.discover(args.scenarios)
    return catalog.with_tags(scenarios, tags) if tags else scenarios


def _picked(args: argparse.Namespace) -> list[catalog.Scenario]:
    """The scenarios named by --scenario; a broken file elsewhere in the folder is skipped
    with a warning (it is an error when nothing else provides the id asked for)."""
    scenarios, unreadable = catalog.scan(args.scenarios)
    folder = args.scenarios or catalog.default_folder()
    chosen = [catalog.select(scenarios, s, unreadable, folder) for s in args.scenario]
    for problem in unreadable:
        print(f"mlxprobe: warning: skipped {problem}", file=sys.stderr)
    return chosen


def run(args: argparse.Namespace) -> int:
    specs = specs_from(args)
    _say_placement(args, specs)
    for path in (args.json, args.html, args.markdown):
        if path is not None:
            textfile.writable_file(path)  # before the runs, not after them
    if args.html:
        html.require()  # before the runs: a missing matplotlib is known at once
    stop_event = threading.Event()
    signals: list[int] = []
    previous = {sig: signal.signal(sig, stopper(stop_event, signals)) for sig in STOP_SIGNALS}
    interrupted = False
    try:
        outcomes = _run_matrix(args, specs, stop_event)
    except matrix.Interrupted as stop:
        interrupted = True  # further Ctrl-C/SIGTERM stay ignored: we are about to exit
        _finish_partial(args, specs, [o.entry for o in stop.finished], signals,
                        _stopped_entries(stop.stopped, signals))
        return EXIT_INTERRUPTED
    finally:
        if not interrupted:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    entries = [o.entry for o in outcomes]
    _finish(args, entries, complete=True)
    return EXIT_OK if all(e["matched"] or e.get("skipped") for e in entries) else EXIT_MISMATCH


def _say_placement(args: argparse.Namespace, specs: list[RunSpec]) -> None:
    """Where the distributed scenarios' ranks run on this machine (decided before any run:
    a bad MLXPROBE_GPUS is a usage error at once), one line on stderr."""
    where = {s.placement.skip or s.placement.where for s in specs if s.rank_count > 1}
    if where and not args.quiet:
        print(f"mlxprobe: distributed scenarios: {'; '.join(sorted(where))}", file=sys.stderr)


def _stopped_entries(stopped: list[Outcome], signals: list[int]) -> list[dict]:
    """The runs the interruption ended, judged again now that the signal is known: verdict
    `interrupted:SIGINT` with what each process was doing (`judging.interrupted`)."""
    entries = []
    for outcome in stopped:
        if signals:
            outcome.raw.stopped_by = signal.Signals(signals[0]).name
        verdict = classify(outcome.raw, outcome.spec.meta)
        entries.append(report.run_entry(outcome.spec, outcome.raw, verdict))
    return entries


def _finish_partial(args: argparse.Namespace, specs: list[RunSpec], entries: list[dict],
                    signals: list[int], stopped: list[dict] | None = None) -> None:
    """The partial report: the runs that finished, the ones that did not, and why; the
    runs the interruption ended (`interrupted_runs`: each with its diagnosis) are among
    the missing ones and printed with their details."""
    done = {(e["scenario"], e["variant"], e["repeat"]) for e in entries}
    missing = [report.run_key(s) for s in specs
               if (s.scenario_id, s.variant, s.repeat) not in done]
    why = f"interrupted by {signal.Signals(signals[0]).name}" if signals else "interrupted"
    for entry in stopped or []:
        print("\n" + table.details(entry))
    _finish(args, entries, complete=False, missing=missing, stopped=why,
            interrupted=stopped or [])
    print(f"mlxprobe: interrupted after {len(entries)} of {len(specs)} runs"
          + ("; partial report written" if args.json else ""), file=sys.stderr)


def _run_matrix(args: argparse.Namespace, specs: list[RunSpec],
                stop: threading.Event) -> list[Outcome]:
    """The matrix under the live view (on stderr; plain lines when it is not a terminal)."""
    if args.quiet:
        return matrix.run_all(specs, args.jobs, stop=stop)
    color = ansi.color_wanted(sys.stderr, args.no_color)
    with live.LiveView(len(specs), sys.stderr, color) as view:
        return matrix.run_all(specs, args.jobs, watcher=view, stop=stop)


def stopper(stop: threading.Event, seen: list[int]) -> Callable[[int, object], None]:
    """The handler of Ctrl-C and SIGTERM during the runs: the first one sets `stop` (the
    matrix ends the running children and raises Interrupted); later ones are ignored until
    the partial report is written (a second Ctrl-C must not cut the cleanup short and leave
    a traceback, children or no report). It raises nothing: an exception at an arbitrary
    point of the main thread could leave a lock of the thread pool held. The signal goes to
    `seen`, for the partial report's `stopped`."""
    def handle(signum: int, frame: object) -> None:
        seen.append(signum)
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        stop.set()
    return handle


def _finish(args: argparse.Namespace, entries: list[dict], complete: bool,
            missing: list[dict] | None = None, stopped: str = "",
            interrupted: list[dict] | None = None) -> None:
    built = report.build(entries, complete, missing, stopped)
    if interrupted:
        built["interrupted_runs"] = interrupted
    if args.json:
        report.write(fingerprint.report_path(args.json, built), built)
    if args.html:
        html.write(args.html, built)
    if args.markdown:
        textfile.write(args.markdown, summary_md.render(built))
    print(table.render(entries, color=ansi.color_wanted(sys.stdout, args.no_color)))
    if not args.quiet:
        for entry in entries:
            if not entry["matched"] and not entry.get("skipped"):
                print("\n" + table.details(entry))
    print("\n" + table.summary(entries))
    if not complete:
        print(summary_md.partial_line(built))
