"""Soak: the README's test command run N times under K busy-loop CPU hogs; failures per test.

A test that fails 1 run in 10 under load fails someone's CI once a week: this finds it. Not
run in CI (a suite run takes ~10 min on 2 cores; 10 of them, under load, most of two hours).

    python benchmarks/soak.py                       # 10 runs, 2 hogs, the README's command
    python benchmarks/soak.py --runs 3 --hogs 3 --tests "tests/test_watch.py -x"

The command is read from the README (the line that starts with `pip install -e`); its
install step is left out (run it once yourself), the rest (`ruff check .`, each `pytest ...`)
runs as written, through the shell, each pytest with `--junitxml` so every test's outcome is
known. `--tests "ARGS"` replaces the command by `pytest ARGS` (a subset, to try the soak).
The hogs (`while True` loops, one process each) run for the whole soak and end themselves
when this script is gone. Output: per run, its time and counts; at the end, every test that
failed or errored in any run, with how often and its first message line; exit 1 when any did.

Must not import: mlx. Standard library only (subprocess, xml.etree).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOG = ("import os, time\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
       "    end = time.monotonic() + 1.0\n    while time.monotonic() < end:\n        pass\n")
INSTALL = re.compile(r"^pip install -e\b")
PYTEST = re.compile(r"(^|[\s/])pytest(\s|$)")


def readme_command(readme: Path) -> list[str]:
    """The README's test command without its install step: one shell command per part."""
    for line in readme.read_text().splitlines():
        line = line.strip()
        if INSTALL.match(line):
            return [part.strip() for part in line.split("&&") if not INSTALL.match(part.strip())]
    raise SystemExit(f"soak: no `pip install -e ...` test command found in {readme}")


def with_junit(part: str, xml: Path) -> str:
    """A `pytest ...` part writing its outcomes to `xml` (other parts as they are)."""
    if not PYTEST.search(part):
        return part
    return part + f" --junitxml={shlex.quote(str(xml))}"


def run_once(parts: list[str], folder: Path, index: int, timeout_s: float) -> dict:
    """One run of every part; its time, return codes and each test's failure (id -> text)."""
    started, codes, failed = time.monotonic(), [], {}
    for number, part in enumerate(parts):
        xml = folder / f"run{index}-part{number}.xml"
        try:
            done = subprocess.run(with_junit(part, xml), shell=True, cwd=ROOT,
                                  capture_output=True, text=True, timeout=timeout_s)
            codes.append(done.returncode)
            if done.returncode != 0 and not xml.exists():
                failed[f"[{part[:60]}]"] = (done.stdout + done.stderr).strip()[-300:]
        except subprocess.TimeoutExpired:
            codes.append("timeout")
            failed[f"[{part[:60]}]"] = f"timed out after {timeout_s:.0f} s"
        failed.update(failures(xml))
    return {"s": time.monotonic() - started, "codes": codes, "failed": failed}


def failures(xml: Path) -> dict[str, str]:
    """test id -> the first line of its failure or error, from a junit file."""
    if not xml.exists():
        return {}
    found = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        for bad in (*case.findall("failure"), *case.findall("error")):
            name = f"{test_path(case.get('classname', ''))}::{case.get('name', '')}"
            found[name] = (bad.get("message") or bad.text or "").strip().splitlines()[:1]
    return {name: (lines[0] if lines else "")[:200] for name, lines in found.items()}


def test_path(classname: str) -> str:
    """junit's `tests.test_x.TestY` as pytest's `tests/test_x.py::TestY`."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (ROOT / path).exists():
            return "::".join([path, *parts[cut:]])
    return classname


def start_hogs(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]


def report(runs: list[dict]) -> int:
    """The per-test table; the number of tests that failed at least once."""
    times: Counter[str] = Counter()
    first: dict[str, str] = {}
    for run in runs:
        for name, text in run["failed"].items():
            times[name] += 1
            first.setdefault(name, text)
    print(f"\n{len(runs)} runs; tests that failed at least once: {len(times)}")
    if times:
        print(f"{'failed':>7}  test  (first message)")
    for name, count in times.most_common():
        print(f"{count:>3}/{len(runs):<3}  {name}\n          {first[name]}")
    return len(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=2, help="busy-loop processes throughout")
    parser.add_argument("--tests", help="run `pytest TESTS` instead of the README's command "
                        "(one string: paths and pytest options)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per part, seconds")
    args = parser.parse_args(argv)
    parts = [f"pytest {args.tests}"] if args.tests else readme_command(ROOT / "README.md")
    print(f"soak: {args.runs} runs of {' && '.join(parts)!r} under {args.hogs} CPU hogs "
          f"on {os.cpu_count()} cores")
    hogs = start_hogs(args.hogs)
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="mlxprobe-soak-") as tmp:
            for index in range(args.runs):
                run = run_once(parts, Path(tmp), index, args.timeout)
                runs.append(run)
                print(f"run {index + 1}: {run['s']:.0f} s, exit codes {run['codes']}, "
                      f"{len(run['failed'])} failed", flush=True)
                for name, text in run["failed"].items():  # as they happen: a long soak
                    print(f"    {name}: {text}", flush=True)  # may be cut short
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return 1 if report(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
