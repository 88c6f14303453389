"""Shared pieces of the benchmarks: the machine's facts, load average, spread statistics,
result sections and their text/Markdown tables.

Job: everything `run.py` and the `bench_*.py` modules share that is not a measurement.
Must not import: mlx (the parent-side benchmarks run without it; bench_overhead imports it
itself).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
CHILDREN = BENCH_DIR / "children"
PLAIN_CHILDREN = REPO / "tests" / "children"


@dataclass
class Target:
    """One target of issue 7: what was measured against what was wanted."""

    name: str
    measured: str
    goal: str
    met: bool | None  # None: not measured in this run


@dataclass
class Section:
    """One benchmark's printed result."""

    key: str
    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    seconds: float = 0.0
    raw: dict = field(default_factory=dict)  # numbers for --json


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(max_wait_s: float, threshold: float, poll_s: float = 15.0) -> dict:
    """Poll the 1-minute load average until it is below `threshold` or `max_wait_s` passed."""
    started = time.monotonic()
    while load1() >= threshold and time.monotonic() - started < max_wait_s:
        print(f"  waiting for a quiet machine: load {load1():.2f} >= {threshold} "
              f"({time.monotonic() - started:.0f} s of {max_wait_s:.0f})", flush=True)
        time.sleep(poll_s)
    load = load1()
    return {"waited_s": round(time.monotonic() - started, 1), "load": load,
            "quiet": load < threshold, "threshold": threshold}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """The checkout's commit, marked when the working tree differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = head.stdout.strip() or "unknown"
    return f"{commit} + uncommitted changes" if dirty.stdout.strip() else commit


def machine() -> dict:
    """The facts RESULTS.md records next to the numbers."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "cpu": cpu_model(), "mem_gb": round(mem_kb / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "mlx": version_of("mlx"), "mlxprobe": version_of("mlxprobe"),
            "commit": git_commit(), "py_spy": version_of("py-spy"),
            "pytest_timeout": version_of("pytest-timeout"),
            "command": " ".join(["python", *sys.argv])}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 1]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """'median [min-max] n=N' (IQR instead of min-max from 8 values on)."""
    if not values:
        return "-"
    med = fmt.format(statistics.median(values))
    if len(values) == 1:
        return f"{med} (n=1)"
    if len(values) >= 8:
        low, high, what = percentile(values, 0.25), percentile(values, 0.75), "IQR "
    else:
        low, high, what = min(values), max(values), ""
    return f"{med} [{what}{fmt.format(low)}-{fmt.format(high)}] n={len(values)}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)])


def met_text(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def section_text(section: Section, markdown: bool = False) -> str:
    table = markdown_table if markdown else text_table
    head = f"### {section.title}" if markdown else f"== {section.title} =="
    load = (f"load average (1 min) {section.load[0]:.2f} at start, {section.load[1]:.2f} at "
            f"end; took {section.seconds:.0f} s")
    parts = [head, "", load, ""]
    if section.rows:
        parts += [table(section.headers, section.rows), ""]
    parts += [f"- {note}" if markdown else f"* {note}" for note in section.notes]
    return "\n".join(parts).rstrip() + "\n"


def targets_text(sections: list[Section], markdown: bool = False) -> str:
    rows = [[t.name, t.measured, t.goal, met_text(t.met)]
            for s in sections for t in s.targets]
    table = markdown_table if markdown else text_table
    return table(["target", "measured", "goal", "status"], rows)


def machine_text(facts: dict, quiet: dict | None, markdown: bool = False) -> str:
    lines = [f"date: {facts['date']}",
             f"machine: {facts['nproc']} cores ({facts['cpu']}), {facts['mem_gb']} GB, "
             f"{facts['os']}",
             f"python {facts['python']}, mlx {facts['mlx']}, mlxprobe {facts['mlxprobe']} "
             f"(commit {facts['commit']}), py-spy {facts['py_spy']}, pytest-timeout "
             f"{facts['pytest_timeout']}",
             f"command: {facts['command']}"]
    if quiet is not None:
        state = "quiet" if quiet["quiet"] else "NOT quiet (measured anyway)"
        lines.append(f"before measuring: waited {quiet['waited_s']:.0f} s for load < "
                     f"{quiet['threshold']}; load then {quiet['load']:.2f}: {state}")
    prefix = "- " if markdown else ""
    return "\n".join(prefix + line for line in lines) + "\n"
