"""`mlxprobe attach PID`: what a running MLX program, started without mlxprobe, is doing now.

Samples the process from outside for `--for` (default 10 s) or until the verdict is decided
(`--until-verdict`, `--for` then caps it): RSS and its slope, CPU by thread, every thread's
Python stacks (py-spy's non-blocking mode, one look a second: the process is never stopped),
its step counter or its output file for progress, and at the end one native dump (the only
step that pauses the process, for the time py-spy unwinds it; `--nonblocking` skips it).
Then the verdict (`judging.now`): progressing with its rate, finished, compiling, moving,
or watch's classes (`hang:cpu_busy` computing without progress, `hang:cpu_idle` waiting,
`diverged`, `leak`, ...), with evidence and fix, and watch's report files (`--json` has
watch's schema: `runs[0].verdict`, `evidence`, `hint`).

Exit 0 progressing or finished, 1 a problem found (hang, diverged, ...), 3 undecided or
moving (no verdict yet), 2 usage (no such process, not an MLX program, no ptrace rights: one
line saying what to do), 130 interrupted. Must not import: mlx, the inside side.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import UsageError
from ..judging import now
from ..reporters import ansi, html, summary_md, table
from ..results import report, textfile
from ..results.textfile import writable_file
from ..watching import attacher, output, pyspy, target
from ..watching.attached import Attached

NAME = "attach"
HELP = "diagnose a running MLX program from outside: mlxprobe attach PID"
EXIT_OK, EXIT_PROBLEM, EXIT_UNDECIDED, EXIT_INTERRUPTED = 0, 1, 3, 130
FOR_S, UNTIL_CAP_S = 10.0, 120.0
GOOD = ("progressing", "finished")
OPEN = ("undecided", "moving", "compiling")
DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min)?\s*$")


def add_arguments(attach: argparse.ArgumentParser) -> None:
    attach.add_argument("pid", type=_pid, metavar="PID", help="the running program's process id")
    attach.add_argument("--for", dest="for_s", type=duration, metavar="TIME",
                        help=f"how long to look: 10s (default), 500ms, 2m; with "
                        f"--until-verdict, the most (default {UNTIL_CAP_S:.0f}s)")
    attach.add_argument("--until-verdict", action="store_true",
                        help="stop as soon as the verdict is decided")
    attach.add_argument("--nonblocking", action="store_true",
                        help="never pause the process: no native stacks (Python stacks are "
                        "always read without pausing it)")
    attach.add_argument("--progress", metavar="REGEX",
                        help="read the step from output lines matching REGEX (named groups "
                        "`step`, optional `loss`), where its output is a file")
    attach.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    attach.add_argument("--html", type=Path, metavar="PATH",
                        help="write a self-contained HTML report (needs matplotlib)")
    attach.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary")
    attach.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"a process id (a whole number > 0), got {text!r}")
    return int(text)


def duration(text: str) -> float:
    """"10s", "10", "500ms", "2m" -> seconds (> 0)."""
    found = DURATION.match(text)
    if found is None or float(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"a time > 0 like 10s, 500ms or 2m, got {text!r}")
    scale = {"ms": 0.001, "m": 60.0, "min": 60.0}.get(found.group(2) or "s", 1.0)
    return float(found.group(1)) * scale


def run(args: argparse.Namespace) -> int:
    for path in (args.json, args.html, args.markdown):
        if path is not None:
            writable_file(path)
    if args.html:
        html.require()
    if args.progress is not None and (problem := output.validate(args.progress)):
        raise UsageError(problem)
    proc = target.process(args.pid)
    target.check_rights(proc, target.command_line(args.pid, []))
    target.check_mlx(proc)
    if pyspy.available() is None:
        raise UsageError("mlxprobe attach reads stacks with py-spy: pip install py-spy")
    for_s = args.for_s or (UNTIL_CAP_S if args.until_verdict else FOR_S)
    session = attacher.Session(proc, target.argv(proc), for_s,
                               now.settled if args.until_verdict else None,
                               args.nonblocking, args.progress)
    print(f"mlxprobe: looking at process {proc.pid} ({' '.join(session.facts.argv)[:80]}) "
          f"for {'up to ' if args.until_verdict else ''}{for_s:g} s ...", file=sys.stderr)
    facts = session.run()
    _refuse_unreadable(facts)
    return _finish(args, facts)


def _refuse_unreadable(facts: Attached) -> None:
    """py-spy denied (a container without CAP_SYS_PTRACE, a hardened kernel): one line."""
    if "permission" in facts.look_error.lower() or "not permitted" in facts.look_error.lower():
        raise UsageError(f"cannot read process {facts.pid}'s stacks ({facts.look_error[:160]}): "
                         f"run `sudo {target.command_line(facts.pid, [])}`; in a container, "
                         "start it with --cap-add SYS_PTRACE")


def entry_of(facts: Attached) -> dict:
    """The report entry: watch's schema, plus what attach read and the stacks."""
    verdict = now.judge(facts)
    raw = now.raw_of(facts)
    entry = report.program_entry(_shown(facts.argv), raw, verdict)
    entry.update(scenario="attach", matched=verdict.kind in GOOD, ended_by_mlxprobe=False,
                 sources=[verdict.evidence.get("progress_source") or "stacks"],
                 stacks={"python": facts.python_stacks(), "native": facts.native_stacks},
                 attached={"pid": facts.pid, "looked_s": round(facts.window_s, 2),
                           "looks": len(facts.looks), "outputs": facts.outputs,
                           "native_dump_s": facts.native_pause_s})
    entry["environment"] = facts.environment or entry["environment"]
    entry["metrics"].update(_progress_metrics(verdict.evidence))
    return entry


def _progress_metrics(evidence: dict) -> dict:
    """`steps`: the program's last step read (its counter, else its output); `step_ms_median`:
    from the rate seen while we looked (both absent when none was read)."""
    progress = evidence.get("progress") or {}
    counter = evidence.get("counter") or {}
    found = {}
    last = progress.get("last", counter.get("last", evidence.get("steps")))
    if isinstance(last, int):
        found["steps"] = last
    if progress.get("per_s"):
        found["step_ms_median"] = round(1000 / progress["per_s"], 2)
    return found


def _shown(argv: list[str]) -> list[str]:
    """The command as a user typed it: the interpreter by its name, not its whole path."""
    return [Path(argv[0]).name, *argv[1:]] if argv else ["?"]


def _for_table(entry: dict, facts: Attached) -> dict:
    """The table's exit column says whether the process is still running (the JSON keeps
    exit_code null: mlxprobe is not its parent, it never learns the code)."""
    metrics = {**entry["metrics"], "exit_code": "ended" if facts.ended_at is not None
               else "running"}
    return {**entry, "metrics": metrics}


def _finish(args: argparse.Namespace, facts: Attached) -> int:
    entry = entry_of(facts)
    built = report.build([entry])
    if args.json:
        report.write(args.json, built)
    if args.html:
        html.write(args.html, built)
    if args.markdown:
        textfile.write(args.markdown, summary_md.render(built))
    color = ansi.color_wanted(sys.stdout, args.no_color)
    print(table.render([_for_table(entry, facts)], color=color, expectation=False))
    print("\n" + table.details(entry, expectation=False))
    print("\n" + _costs(facts))
    kind = entry["verdict"]
    return EXIT_OK if kind in GOOD else EXIT_UNDECIDED if kind in OPEN else EXIT_PROBLEM


def _costs(facts: Attached) -> str:
    looks = [look.wall_s for look in facts.looks]
    cpu = facts.costs.get("look_cpu_s", [])
    parts = [f"sampling: {len(looks)} non-blocking py-spy looks (the process never stopped; "
             f"each took {_median(looks) * 1000:.0f} ms and {_median(cpu) * 1000:.0f} ms of "
             "mlxprobe's CPU)" if looks else "sampling: no Python looks",
             "RSS/CPU read from /proc at 20 Hz"]
    if facts.native_pause_s is not None:
        parts.append(f"one native dump (pauses the process while unwinding; the dump took "
                     f"{facts.native_pause_s * 1000:.0f} ms in all)")
    return "; ".join(parts)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0
