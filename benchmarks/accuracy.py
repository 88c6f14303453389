"""How well mlxprobe diagnoses failures it was never shown: the corpus scorer (issue 21).

Runs every case of `corpus/<half>/cases.toml` as a user would, `mlxprobe watch --json R --
python SCRIPT`, and `mlxprobe lint --format json SCRIPT`, then prints per case and per half:
- class: the broken script's verdict class is one of the case's `expect` classes;
- hint: the verdict's fix text holds, for each word group of `hint`, one of its words
  (case-insensitive);
- false alarm: an ok twin or a correct loop got anything but `pass`;
- lint: fired on a broken script with `lint_mark`; findings on an ok twin or correct loop.

    python benchmarks/accuracy.py                 # both halves, the whole corpus
    python benchmarks/accuracy.py --half dev --only sqrt_distance_nan,freeze_after_lora
    python benchmarks/accuracy.py --json scores.json
    python benchmarks/accuracy.py --raw /tmp/raw         # also keep each run's raw facts
    python benchmarks/accuracy.py --raw /tmp/raw --rejudge   # judge them again, run nothing

`--raw DIR` keeps each watched run's raw facts (`watch --save-raw`) and lint findings under
DIR/<half>/, keyed by the script's SHA-1; `--rejudge` judges the kept facts again with the
rules as they are now (in this process, seconds for the whole corpus) and runs only the
scripts that have none or whose text changed; a run that left no facts (the scorer's time
limit, no report) keeps its label and is not run again. Timing-dependent facts (deadlines,
samples) are those of the run that was kept.

Runs one script at a time (a 2-core machine: parallel runs would change the timings the
verdicts read). Standard library + mlxprobe (its CLI; `--rejudge` its verdict and report
entry); no mlx import here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
HALVES = tuple(sorted(p.parent.name for p in CORPUS.glob("*/cases.toml")))  # dev, heldout, ...
RUN_LIMIT_S = 600  # watch ends a hang itself; this only guards the scorer


@dataclass
class Run:
    """One script under watch and lint."""

    script: str
    role: str  # broken | ok | correct
    verdict: str = ""
    hint: str = ""
    reason: str = ""
    wall_s: float = 0.0
    lint: list[str] = field(default_factory=list)  # "MLX001:12"


@dataclass
class Score:
    case: str
    half: str
    kind: str
    expect: list[str]
    runs: list[Run]
    class_hit: bool | None = None  # broken only
    hint_hit: bool | None = None
    false_alarms: list[str] = field(default_factory=list)
    lint_mark: bool = False
    lint_fired: bool | None = None
    lint_false: list[str] = field(default_factory=list)


def load(corpus: Path, half: str) -> list[dict]:
    path = corpus / half / "cases.toml"
    if not path.exists():
        return []
    return tomllib.loads(path.read_text())["case"]


def run_bounded(cmd: list[str], folder: Path, limit_s: float) -> tuple[int | None, str]:
    """Run `cmd` in its own session; past `limit_s` kill the whole group (the watched script
    included, so nothing is left behind) and return (None, stdout so far)."""
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit_s)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out
    finally:  # the scorer stopped (Ctrl-C, SIGTERM): its run's own session goes with it
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def watch(folder: Path, script: str, args: list[str], raw: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        keep = ["--save-raw", str(raw)] if raw else []
        cmd = [sys.executable, "-m", "mlxprobe.cli", "watch", "--no-status", "--no-color",
               "--json", str(report), *keep, "--", sys.executable, script, *args]
        started = time.monotonic()
        code, _ = run_bounded(cmd, folder, RUN_LIMIT_S)
        wall = round(time.monotonic() - started, 1)
        if code is None or not report.exists():
            label = "scorer_timeout" if code is None else "no_report"
            return {"verdict": label, "hint": "", "reason": "", "wall_s": wall}
        run = json.loads(report.read_text())["runs"][0]
    return _label(run, wall)


def _label(run: dict, wall: float) -> dict:
    label = run["verdict"] + (f":{run['detail']}" if run.get("detail") else "")
    return {"verdict": label, "hint": run.get("hint", ""), "reason": run.get("reason", ""),
            "wall_s": round(wall, 1)}


def lint(folder: Path, script: str) -> list[str]:
    code, out = run_bounded([sys.executable, "-m", "mlxprobe.cli", "lint", "--format", "json",
                             script], folder, 120)
    try:
        found = json.loads(out or "[]")
    except json.JSONDecodeError:
        return [f"unreadable:{code}"]
    items = found.get("findings", found) if isinstance(found, dict) else found
    return [f"{f.get('rule', f.get('code', '?'))}:{f.get('line', '?')}" for f in items]


def hint_hit(text: str, groups: list[list[str]]) -> bool:
    lowered = text.lower()
    return all(any(word.lower() in lowered for word in group) for group in groups)


def score_case(corpus: Path, half: str, case: dict, keep: Keep | None = None) -> Score:
    folder = corpus / half
    roles = ([("broken", case["broken"]), ("ok", case["ok"])] if case["kind"] == "failure"
             else [("correct", case["script"])])
    runs = [scored_run(folder, script, role, case.get("args", []), keep)
            for role, script in roles]
    return judge(half, case, runs)


@dataclass
class Keep:
    """Where each run's raw facts are kept (`--raw DIR`) and whether to judge them again."""

    root: Path
    rejudge: bool = False

    def paths(self, folder: Path, script: str) -> tuple[Path, Path]:
        """The raw facts and the lint findings of one script, named by its text's SHA-1."""
        digest = hashlib.sha1((folder / script).read_bytes()).hexdigest()[:12]
        stem = self.root / folder.name / f"{Path(script).stem}-{digest}"
        return stem.with_suffix(".raw"), stem.with_suffix(".lint.json")


def scored_run(folder: Path, script: str, role: str, args: list[str],
               keep: Keep | None) -> Run:
    """One script watched and linted; with `keep`, from its kept facts where they exist."""
    if keep is None:
        return Run(script, role, **watch(folder, script, args), lint=lint(folder, script))
    raw, linted = keep.paths(folder, script)
    kept = json.loads(linted.read_text()) if keep.rejudge and linted.exists() else None
    if kept is not None and kept.get("unjudged"):  # no facts to judge: its run's own label
        return Run(script, role, verdict=kept["unjudged"], wall_s=kept["wall_s"],
                   lint=kept["lint"])
    if kept is None or not raw.exists():
        run = Run(script, role, **watch(folder, script, args, raw), lint=lint(folder, script))
        linted.parent.mkdir(parents=True, exist_ok=True)
        unjudged = "" if raw.exists() else run.verdict  # scorer_timeout, no_report
        linted.write_text(json.dumps({"lint": run.lint, "wall_s": run.wall_s,
                                      "unjudged": unjudged}))
        return run
    return Run(script, role, **rejudged(folder, raw, kept["wall_s"]), lint=kept["lint"])


def rejudged(folder: Path, raw: Path, wall: float) -> dict:
    """The kept run judged by the rules as they are now (the watch command's own steps, in
    the script's folder: the lint evidence reads the script by its path there)."""
    from mlxprobe.commands.watch import judged
    from mlxprobe.results import rawfacts

    argv, facts = rawfacts.load(raw)
    here = Path.cwd()
    try:
        os.chdir(folder)
        _, entry = judged(argv, facts)
    finally:
        os.chdir(here)
    return _label(entry, wall)


def judge(half: str, case: dict, runs: list[Run]) -> Score:
    score = Score(case["name"], half, case["kind"], case.get("expect", ["pass"]), runs,
                  lint_mark=bool(case.get("lint_mark")))
    for run in runs:
        cls = run.verdict.split(":")[0]
        if run.role == "broken":
            score.class_hit = cls in score.expect
            score.hint_hit = score.class_hit and hint_hit(run.hint, case.get("hint", []))
            score.lint_fired = bool(run.lint) if score.lint_mark else None
        else:
            if cls != "pass":
                score.false_alarms.append(f"{run.script}: {run.verdict}")
            if run.lint:
                score.lint_false.append(f"{run.script}: {', '.join(run.lint)}")
    return score


def rate(hits: list[bool]) -> str:
    return f"{sum(hits)}/{len(hits)} ({100 * sum(hits) / len(hits):.0f}%)" if hits else "-"


def summary(scores: list[Score], half: str) -> dict:
    mine = [s for s in scores if s.half == half]
    broken = [s for s in mine if s.kind == "failure"]
    clean_runs = sum(1 for s in mine for r in s.runs if r.role != "broken")
    marked = [s for s in broken if s.lint_mark]
    return {"half": half, "failures": len(broken), "clean_runs": clean_runs,
            "class": rate([bool(s.class_hit) for s in broken]),
            "hint": rate([bool(s.hint_hit) for s in broken]),
            "false_alarms": sum(len(s.false_alarms) for s in mine),
            "lint_fired": rate([bool(s.lint_fired) for s in marked]),
            "lint_false": sum(len(s.lint_false) for s in mine)}


def print_table(scores: list[Score]) -> None:
    print(f"{'half':8} {'case':32} {'expect':16} {'broken got':28} {'cls':4} {'hint':4} "
          f"{'clean runs':24} {'lint':6}")
    for s in scores:
        broken = next((r for r in s.runs if r.role == "broken"), None)
        got = broken.verdict if broken else "-"
        clean = "; ".join(f"{r.role}={r.verdict}" for r in s.runs if r.role != "broken")
        mark = ("-" if s.lint_fired is None else ("fired" if s.lint_fired else "quiet"))
        if s.lint_false:
            mark += "+FP"
        print(f"{s.half:8} {s.case[:32]:32} {','.join(s.expect)[:16]:16} {got[:28]:28} "
              f"{_yn(s.class_hit):4} {_yn(s.hint_hit):4} {clean[:24]:24} {mark:6}")


def _yn(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", default="all", help=f"one of {', '.join(HALVES)} (the "
                        "folders of --corpus holding a cases.toml), or all")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--json", type=Path, help="write every score here")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the corpus folder")
    parser.add_argument("--raw", type=Path, metavar="DIR",
                        help="keep each run's raw facts and lint findings here")
    parser.add_argument("--rejudge", action="store_true",
                        help="with --raw: judge the kept facts again instead of running")
    opts = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through run_bounded
    if opts.rejudge and not opts.raw:
        print("accuracy: --rejudge needs --raw DIR (where the runs were kept)", file=sys.stderr)
        return 2
    keep = Keep(opts.raw.resolve(), opts.rejudge) if opts.raw else None
    found = tuple(sorted(p.parent.name for p in opts.corpus.glob("*/cases.toml")))
    if opts.half != "all" and opts.half not in found:
        print(f"accuracy: no half {opts.half!r} in {opts.corpus} (there: {', '.join(found)})",
              file=sys.stderr)
        return 2
    halves = found if opts.half == "all" else (opts.half,)
    only = {n for n in opts.only.split(",") if n}
    scores = []
    for half in halves:
        for case in load(opts.corpus, half):
            if not only or case["name"] in only:
                scores.append(score_case(opts.corpus, half, case, keep))
                print(f"  scored {half}/{case['name']}", file=sys.stderr, flush=True)
                if opts.json:  # as it goes: a long sweep cut short keeps what it scored
                    opts.json.write_text(json.dumps([asdict(s) for s in scores], indent=1))
    print_table(scores)
    for half in halves:
        print(json.dumps(summary(scores, half)))
    if opts.json:
        opts.json.write_text(json.dumps([asdict(s) for s in scores], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
