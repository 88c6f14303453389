"""`mlxprobe gate --candidate REQ (--baseline REQ | --baseline-report PATH) [-- PROGRAM]`.

Judges an mlx bump. With `-- PROGRAM [ARGS]` on the user's own training: each round runs
`mlxprobe watch --json ... -- PROGRAM` in the environment (its bin/ first on PATH, so `python`
is the env's; from the current directory), with the user's requirements installed there too
(`--with REQ` repeated, `--with .` for the current project, `--requirements FILE`); the
program's output goes to parts/<side>-<round>.txt. Without a program, on the scenarios:
builds (or reuses) an isolated environment per mlx requirement with mlxprobe installed from
this checkout, runs the scenario matrix in each (`mlxprobe run --jobs 1`, N rounds ordered
A B, B A, ... to cancel drift), merges each side's rounds and compares them as `mlxprobe
compare` does (a variant missing from a side, a partial side or nothing matched on either
side fail too; a change both sides expected is listed as `changed as expected`). Exit 0
clean, 1 regression, 2 usage or setup error (one line; an environment without mlx, an output
path that cannot be written, both checked before any run), 130 interrupted. Everything lands
in `--out` (default `mlxprobe-gate/`): base.json, head.json, summary.md and each round's
report and table under parts/; `--html PATH` adds the comparison page.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UsageError
from ..gating import comparison, environments, schedule
from ..gating.environments import Environment
from ..launching import catalog
from ..reporters import html, markdown
from ..results import fingerprint, report, textfile
from ..watching import output
from . import compare
from .running import jobs_count

NAME = "gate"
HELP = ("run your program (gate ... -- python train.py) or the scenarios on a baseline and "
        "a candidate mlx and compare")
EXIT_INTERRUPTED = 130
RUN_OK = (0, 1)  # `mlxprobe run` exit codes that still leave a full report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, metavar="REQ",
                        help='the mlx to judge, as pip takes it: "mlx[cpu]==0.32.4", a range, '
                        "a wheel file, a git URL")
    base = parser.add_mutually_exclusive_group(required=True)
    base.add_argument("--baseline", metavar="REQ", help="the mlx to compare against")
    base.add_argument("--baseline-report", type=Path, metavar="PATH",
                      help="a kept report (e.g. reports/linux-x86_64-cpu-mlx0.32.4.json)")
    parser.add_argument("--repeat", type=jobs_count, default=3, metavar="N",
                        help="rounds per side (default %(default)s; the rank test on timings "
                        "needs 3 or more)")
    parser.add_argument("--scenario", action="append", metavar="ID",
                        help="only these scenarios (repeatable; default all)")
    parser.add_argument("--tag", action="append", metavar="TAG",
                        help="only scenarios carrying this tag (repeatable), e.g. upstream")
    parser.add_argument("--variant", help="only this variant")
    parser.add_argument("--scenarios", type=Path, metavar="DIR", help="your scenario folder")
    parser.add_argument("--out", type=Path, default=Path("mlxprobe-gate"), metavar="DIR",
                        help="where reports and the summary go (default %(default)s)")
    parser.add_argument("--keep-reports", type=Path, metavar="DIR", help="also save each "
                        "side's report in DIR, named by its fingerprint (for baselines)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="environment cache (default $MLXPROBE_CACHE or ~/.cache/mlxprobe)")
    parser.add_argument("--refresh", action="store_true", help="rebuild the environments")
    parser.add_argument("--mlxprobe", metavar="REQ", help="install this mlxprobe in the "
                        "environments instead of a wheel of this checkout")
    compare.add_output_arguments(parser)
    parser.add_argument("--html", type=Path, metavar="PATH", help="write an HTML page: "
                        "baseline against candidate, with plots (needs matplotlib)")
    parser.add_argument("--with", dest="with_", action="append", metavar="REQ",
                        help="with a program: also install REQ in both environments "
                        "(repeatable; `.` is the project in the current directory)")
    parser.add_argument("--requirements", type=Path, metavar="FILE",
                        help="with a program: also install this requirements file (pip -r)")
    parser.add_argument("--progress", metavar="REGEX", help="with a program: as `mlxprobe "
                        "watch --progress` (read steps and losses from output lines)")
    parser.add_argument("program", nargs=argparse.REMAINDER,
                        help="-- then your training program and its arguments, e.g. "
                        "`-- python train.py --iters 200` (default: the scenarios)")


def run(args: argparse.Namespace) -> int:
    compare.thresholds_from(args)  # usage errors before any slow work
    compare.check_stdout(args)
    _check_program(args)
    tagged = _tagged(args)
    _check_outputs(args)
    started = time.monotonic()
    kept = compare.narrowed(args, _with_ids(report.load(args.baseline_report), tagged), "BASE") \
        if args.baseline_report else None
    try:
        envs = _environments(args)
        env_s = time.monotonic() - started
        same = _same_mlx(envs)
        if same:
            _log(same)
        base, head = _run_sides(args, envs, kept)
    except KeyboardInterrupt:
        print("mlxprobe: gate interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    total = time.monotonic() - started
    notes = markdown.gate_notes(_command_line(), _sides_rows(args, envs),
                                schedule.order(args.repeat, tuple(envs)), total, env_s)
    result = compare.judge(args, base, head, "mlxprobe gate", notes)
    textfile.write(args.out / "summary.md", markdown.render(result, "mlxprobe gate") + notes)
    if args.html:
        html.write(args.html, compare.narrowed(args, head, "HEAD"),
                   compare.narrowed(args, base, "BASE"), result)
    print(f"\ngate wall time {total:.0f} s (environments {env_s:.0f} s, runs "
          f"{total - env_s:.0f} s); reports and summary in {args.out}", file=sys.stderr)
    return compare.exit_code(result)


def _check_program(args: argparse.Namespace) -> None:
    """With a program: its argv (`args.program`, without the `--`), the user's requirements
    (`args.extras`) and no scenario selection; usage errors before any slow work."""
    program = list(args.program or [])
    program = program[1:] if program[:1] == ["--"] else program
    args.program = program
    args.extras = environments.extra_requirements(args.with_, args.requirements)
    if not program:
        if args.extras or args.progress is not None:
            raise UsageError("--with, --requirements and --progress go with a program: "
                             "`mlxprobe gate ... -- python train.py`")
        return
    for flag, value in (("--scenario", args.scenario), ("--tag", getattr(args, "tag", None)),
                        ("--variant", args.variant), ("--scenarios", args.scenarios)):
        if value:
            raise UsageError(f"{flag} selects scenarios; a gate of your program "
                             f"(-- {shlex.join(program)}) runs no scenario")
    if program[0].startswith("-"):
        raise UsageError(f"{program[0]!r} is no program: options of gate go before `--`")
    if args.progress is not None and (problem := output.validate(args.progress)):
        raise UsageError(problem)


def _tagged(args: argparse.Namespace) -> list[str] | None:
    """The ids `--tag` selects, as `mlxprobe run --tag` will in each environment (checked
    now: an unknown tag is a usage error before any slow work); None without --tag or when
    the catalogue the environments run cannot be read here (--mlxprobe)."""
    if not args.tag:
        return None
    if args.scenario:
        raise UsageError("--tag selects from the whole catalogue: use it without --scenario")
    folder = _catalogue(args)
    if folder is None:
        return None
    return [s.id for s in catalog.with_tags(catalog.discover(folder), args.tag)]


def _catalogue(args: argparse.Namespace) -> Path | None:
    """The scenario folder the environments will run: --scenarios, else the scenarios of the
    checkout whose wheel they get; None when --mlxprobe installs another mlxprobe there."""
    if args.scenarios:
        return args.scenarios
    root = None if args.mlxprobe else environments.checkout_root()
    return root / "scenarios" if root else None


def _with_ids(kept: dict, ids: list[str] | None) -> dict:
    """A kept baseline narrowed to the tagged scenarios (one it lacks shows up as `new`)."""
    return kept if ids is None else comparison.narrow(kept, "BASE", ids, None, strict=False)


def _check_outputs(args: argparse.Namespace) -> None:
    """Every file the gate writes after its runs can be written: checked before them."""
    outputs = [args.out / "summary.md", args.markdown, args.junit, args.html, args.json,
               args.keep_reports / "x.json" if args.keep_reports else None]
    for path in outputs:
        if path is not None and str(path) != "-":
            textfile.writable_file(path)
    if args.html:
        html.require()


def _same_mlx(envs: dict[str, Environment]) -> str:
    """A warning when both sides run the same mlx: the gate then judges nothing new."""
    versions = {env.mlx_version for env in envs.values()}
    if len(envs) > 1 and len(versions) == 1:
        return (f"warning: both sides run mlx {versions.pop()}: this gate compares an mlx "
                "with itself")
    return ""


def _command_line() -> str:
    return "mlxprobe " + shlex.join(sys.argv[1:])


def _sides_rows(args: argparse.Namespace, envs: dict[str, Environment]) -> list[list[str]]:
    """[side, what it is, mlx, environment] for the summary."""
    rows = [[side, " + ".join((env.requirement, *env.extras)), env.mlx_version, env.how]
            for side, env in envs.items()]
    if args.baseline_report:
        rows.insert(0, [schedule.BASE, f"report {args.baseline_report}", "-", "-"])
    return rows


def _log(text: str) -> None:
    print(f"mlxprobe gate: {text}", file=sys.stderr, flush=True)


def _environments(args: argparse.Namespace) -> dict[str, Environment]:
    cache = environments.cache_root(args.cache_dir)
    wanted = {schedule.HEAD: args.candidate}
    if args.baseline:
        wanted = {schedule.BASE: args.baseline, **wanted}
    package = environments.mlxprobe_package(args.mlxprobe, cache, _log)
    envs = {}
    for side, requirement in wanted.items():
        env = environments.prepare(requirement, cache, package, args.refresh, _log,
                                   getattr(args, "extras", ()))
        _log(f"{side}: {requirement} -> mlx {env.mlx_version} ({env.how}, {env.path})")
        envs[side] = env
    return envs


def _run_sides(args: argparse.Namespace, envs: dict[str, Environment],
               kept: dict | None) -> tuple[dict, dict]:
    parts: dict[str, list[dict]] = {side: [] for side in envs}
    for side, r in schedule.order(args.repeat, tuple(envs)):
        _log(f"round {r + 1}/{args.repeat}: {side} (mlx {envs[side].mlx_version})")
        parts[side].append(_run_once(args, envs[side], side, r))
    sides = {side: schedule.combine(found) for side, found in parts.items()}
    for side, merged in sides.items():
        report.write(args.out / f"{side}.json", merged)
        if args.keep_reports:
            report.write(fingerprint.report_path(_folder(args.keep_reports), merged), merged)
    return (kept if kept is not None else sides[schedule.BASE]), sides[schedule.HEAD]


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_command(args: argparse.Namespace, env: Environment, json_path: Path) -> list[str]:
    """`python -m mlxprobe.cli run ...` in the env, for one round."""
    command = [str(env.python), "-m", "mlxprobe.cli", "run", "--jobs", "1",
               "--json", str(json_path.resolve())]
    for scenario in args.scenario or []:
        command += ["--scenario", scenario]
    for tag in getattr(args, "tag", None) or []:
        command += ["--tag", tag]
    if not (args.scenario or getattr(args, "tag", None)):
        command.append("--all")
    if args.variant:
        command += ["--variant", args.variant]
    if args.scenarios:
        command += ["--scenarios", str(args.scenarios.resolve())]
    return command


def watch_command(args: argparse.Namespace, env: Environment, json_path: Path) -> list[str]:
    """`ENV/bin/mlxprobe watch ... -- PROGRAM`, for one round of a program. The console
    script, not `python -m`: the program runs from the user's directory, which may hold an
    mlxprobe/ folder that `-m` would import instead of the env's."""
    command = [str(environments.script_in(env.path, "mlxprobe")), "watch", "--no-status",
               "--no-color", "--json", str(json_path.resolve())]
    if args.progress is not None:
        command += ["--progress", args.progress]
    return [*command, "--", *args.program]


def program_env(env: Environment) -> dict[str, str]:
    """The environment variables of a program's round: the venv activated (its bin/ first
    on PATH, so `python` in the program's command line is the env's python)."""
    clean = environments.clean_env()
    bin_dir = str(environments.python_in(env.path).parent)
    return {**clean, "VIRTUAL_ENV": str(env.path),
            "PATH": os.pathsep.join(p for p in (bin_dir, clean.get("PATH")) if p)}


def _run_once(args: argparse.Namespace, env: Environment, side: str, r: int) -> dict:
    folder = _folder(args.out / "parts")
    json_path = folder / f"{side}-{r + 1}.json"
    json_path.unlink(missing_ok=True)
    program = bool(getattr(args, "program", None))
    if program:  # the user's program runs where the user is, as it would without the gate
        command, cwd, variables = watch_command(args, env, json_path), None, program_env(env)
    else:  # cwd is the parts folder: never this checkout, whose mlxprobe/ would shadow
        command, cwd, variables = run_command(args, env, json_path), folder, \
            environments.clean_env()
    what = "mlxprobe watch" if program else "mlxprobe run"
    with open(folder / f"{side}-{r + 1}.txt", "w", encoding="utf-8") as table:
        proc = subprocess.Popen(command, stdout=table, stderr=subprocess.PIPE, text=True,
                                cwd=cwd, env=variables)
        last = _relay(proc, f"  {side} {r + 1}: ")
    if proc.returncode == EXIT_INTERRUPTED:
        raise KeyboardInterrupt
    if proc.returncode not in RUN_OK or not json_path.exists():
        raise UsageError(f"`{what}` in the {side} environment ({env.path}) failed with "
                         f"exit code {proc.returncode}: {last}")
    return report.load(json_path)


def _relay(proc: subprocess.Popen, prefix: str) -> str:
    """Copy the run's progress lines to our stderr; the last line (for an error message)."""
    last = ""
    assert proc.stderr is not None
    for line in proc.stderr:
        last = line.strip() or last
        print(prefix + line.rstrip(), file=sys.stderr, flush=True)
    proc.wait()
    return last
