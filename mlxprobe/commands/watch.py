"""`mlxprobe watch -- PROGRAM [ARGS...]`: diagnose the user's own, unmodified training run.

The program runs as it would (its output reaches the terminal unchanged), under the watchdog:
with `--ranks N` (or a launcher in the command, `mlx.launch ...`) every rank
of a distributed job is watched and the job judged by its slowest rank; progress from the
injected bootstrap for Python programs (optimizer updates, evaluations,
mlx-lm's callback, `probe.step` calls the user added), from the program's output lines for
anything else (`--progress REGEX`), and the process tree sampled from outside. At the end:
the table row, reason, evidence, fix and report files, as `run`. While it runs, SIGUSR1 to
mlxprobe (`kill -USR1 PID`) prints what the program is doing now (`ondemand`).

Exit 0 pass, 1 a problem found, 2 usage; stopped by the user, the verdict is `interrupted`
(with the diagnosis of that moment) and the exit code the shell's convention, 128 + the
signal: 130 for Ctrl-C (SIGINT), 143 for SIGTERM; 124 when `--budget` ran out (as
coreutils' `timeout`). The program's tree is ended and a partial report written. The
program's own exit code and signal are in the report.

Must not import: mlx, the inside side.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from ..errors import UsageError
from ..judging import cells
from ..judging.rule import Verdict
from ..judging.verdict import classify
from ..launching import placement, settings
from ..launching import ranks as launching_ranks
from ..launching.launch import Launch
from ..native import program
from ..pipeline import lint_evidence, spin_source
from ..reporters import ansi, console, html, summary_md, table
from ..results import rawfacts, report, textfile
from ..results.textfile import writable_file
from ..watching import output, runner
from ..watching.facts import RawResult
from ..watching.watchdog import Deadlines
from .ondemand import OnDemand
from .running import STOP_SIGNALS, stopper

NAME = "watch"
HELP = "run your own training program under the watchdog: mlxprobe watch -- python train.py"
EXIT_OK, EXIT_PROBLEM, EXIT_INTERRUPTED, EXIT_BUDGET = 0, 1, 130, 124
# A user's run is not a scenario whose step times we know: longer deadlines, no budget.
# 300 s to the first sign of progress (loading a large model's weights from disk prints
# nothing for minutes); 5 s between steps at least (GC pauses, logging, a data shard), and a
# missed deadline is confirmed on the stacks before it is a hang (`watching.confirm`).
WATCH_DEADLINES = Deadlines(startup_s=300.0, step_floor_s=5.0, budget_s=math.inf)


def add_arguments(watch: argparse.ArgumentParser) -> None:
    watch.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    watch.add_argument("--html", type=Path, metavar="PATH",
                       help="write a self-contained HTML report with plots (needs matplotlib)")
    watch.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary")
    watch.add_argument("--save-raw", type=Path, metavar="PATH",
                       help="also write the run's raw facts here, to judge it again with newer "
                       "rules without running it (a developer's cache: see results/rawfacts)")
    watch.add_argument("--progress", metavar="REGEX",
                       help="read progress from output lines matching REGEX, with named groups "
                       "`step` and (optional) `loss`")
    watch.add_argument("--ranks", type=_ranks, default=1, metavar="N",
                       help="run the program as N ranks through mlx.launch on 127.0.0.1 "
                       "(free ports chosen per run); every rank is watched")
    watch.add_argument("--backend", choices=launching_ranks.BACKENDS,
                       help="mlx.launch's backend for --ranks (default: mlx.launch's own "
                       "choice, nccl where CUDA has a GPU per rank, else ring: with fewer "
                       "GPUs than ranks the ranks share them on ring)")
    settings.add_run_options(watch, base=WATCH_DEADLINES)
    watch.add_argument("--no-interposer", action="store_true",
                       help="a native (compiled) program: no interposer library, progress "
                       "from its output only (also: MLXPROBE_NO_INTERPOSER=1)")
    watch.add_argument("--no-status", action="store_true",
                       help="no status line below the program's output on a terminal")
    watch.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    watch.add_argument("program", nargs=argparse.REMAINDER,
                       help="-- then the program and its arguments")


def launch_from(args: argparse.Namespace) -> Launch:
    argv = program_argv(args.program)
    if args.progress is not None and (problem := output.validate(args.progress)):
        raise UsageError(problem)
    deadlines, max_memory = settings.deadlines_from(args, base=WATCH_DEADLINES)
    if args.backend is not None and args.ranks == 1:
        raise UsageError("--backend needs --ranks N (N > 1); a launcher in the command "
                         "(mlx.launch ...) takes its own --backend")
    preload, why = program.interposer_for(argv, args.no_interposer, args.ranks)
    if args.ranks > 1:
        argv = launching_ranks.launch_argv(args.ranks, argv, _backend(args))
    return Launch(tuple(argv), deadlines=deadlines, max_memory_mb=max_memory,
                  bootstrap=True, echo=True, progress=args.progress, parse_output=True,
                  records_fd=False, watched=True, ranks=args.ranks, preload=preload,
                  interposer=why)


def _backend(args: argparse.Namespace) -> str | None:
    """The backend for --ranks on this machine (`placement`: fewer CUDA GPUs than ranks runs
    the ring backend, the ranks sharing the GPUs); one that cannot run here: a usage error."""
    placed = placement.place(args.ranks, args.backend, placement.machine_shape())
    if placed.skip:
        raise UsageError(placed.skip)
    if placed.backend != args.backend:
        print(f"mlxprobe: --ranks {args.ranks}: {placed.where}", file=sys.stderr)
    return placed.backend


def _ranks(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= launching_ranks.MAX_LOCAL:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to "
                                         f"{launching_ranks.MAX_LOCAL}, got {text!r}")
    return int(text)


def program_argv(program: list[str]) -> list[str]:
    argv = program[1:] if program[:1] == ["--"] else list(program)
    if not argv:
        raise UsageError("no program to watch: give it after --, e.g. "
                         "`mlxprobe watch -- python train.py`")
    exe = argv[0]
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK) else None)
    if found is None:
        raise UsageError(f"cannot run {exe!r}: not found or not executable"
                         + ("" if os.sep in exe else " on PATH"))
    return argv


def run(args: argparse.Namespace) -> int:
    launch = launch_from(args)
    for path in (args.json, args.html, args.markdown, args.save_raw):
        if path is not None:
            writable_file(path)
    if args.html:
        html.require()
    stop, signals = threading.Event(), []
    previous = {sig: signal.signal(sig, stopper(stop, signals)) for sig in STOP_SIGNALS}
    try:
        with console.for_terminal(args.no_status) as screen, OnDemand(
                lambda text: screen.echo("stderr", text.encode())) as live:
            raw = runner.run(launch, stop, _both(screen.record, live.record), screen.echo)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if raw.interrupted and signals and not raw.stopped_by:
        raw.stopped_by = signal.Signals(signals[0]).name
    shown = list(launch.argv)
    if args.ranks > 1:  # the user's own command, not our launcher line
        shown = [f"[{args.ranks} ranks]", *program_argv(args.program)]
    return _finish(args, shown, raw)


def interrupted_code(stopped_by: str) -> int:
    """128 + the signal (130 Ctrl-C, 143 SIGTERM); 124 for the budget."""
    if stopped_by == "budget":
        return EXIT_BUDGET
    try:
        return 128 + signal.Signals[stopped_by]
    except KeyError:
        return EXIT_INTERRUPTED


def _both(first, second):  # noqa: ANN001, ANN202
    """One `on_record` that tells the status line and the on-demand look (SIGUSR1)."""
    def both(record: dict) -> None:
        first(record)
        second(record)
    return both


def judged(argv: list[str], raw: RawResult) -> tuple[Verdict, dict]:
    """The verdict and the report entry of a watched run: `classify`, a notebook's cell
    named, the program's own lint findings joined (also for a run saved with --save-raw)."""
    verdict = cells.named(raw, classify(raw, {}))  # a notebook's cell, where there is one
    entry = lint_evidence.attach(report.program_entry(argv, raw, verdict), argv,
                                 raw.python_stacks)
    return verdict, spin_source.attach(entry, raw.python_stacks)


def _finish(args: argparse.Namespace, argv: list[str], raw: RawResult) -> int:
    if args.save_raw:
        rawfacts.save(args.save_raw, argv, raw)
    verdict, entry = judged(argv, raw)
    built = report.build([entry], complete=not raw.interrupted)
    if args.json:
        report.write(args.json, built)
    if args.html:
        html.write(args.html, built)
    if args.markdown:
        textfile.write(args.markdown, summary_md.render(built))
    color = ansi.color_wanted(sys.stdout, args.no_color)
    print("\n" + table.render([entry], color=color, expectation=False))
    print("\n" + table.details(entry, expectation=False))
    if raw.interrupted:
        print(f"mlxprobe: interrupted ({raw.stopped_by or 'stopped'}); the program's tree "
              "was ended" + ("; partial report written" if args.json else ""), file=sys.stderr)
        return interrupted_code(raw.stopped_by)
    return EXIT_OK if verdict.kind == "pass" else EXIT_PROBLEM
