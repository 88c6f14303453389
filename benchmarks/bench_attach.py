"""What `mlxprobe attach` costs the process it looks at: the longest pause a tight loop in
the target sees while nothing looks (baseline: the scheduler's own), during py-spy's
non-blocking looks (attach's one look a second), and during the one native dump; and each
look's wall time and CPU (in mlxprobe's py-spy child, not in the target).

    python benchmarks/bench_attach.py [--looks 8] [--dumps 5]

The target imports mlx.core (attach looks at MLX programs) and spins on perf_counter,
keeping the longest gap between two iterations per 50 ms slot. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlxprobe.watching import pyspy, stacks  # noqa: E402

TARGET = """
import sys, time
import mlx.core
out = open(sys.argv[1], "w", buffering=1)
last = slot = time.perf_counter(); worst = 0.0
while True:
    now = time.perf_counter()
    worst = max(worst, now - last); last = now
    if now - slot >= 0.05:
        out.write(f"{time.monotonic()} {worst}\\n"); worst = 0.0; slot = now
"""


def gaps(log: Path, spans: list[tuple[float, float]]) -> list[float]:
    """The longest gap in each span (ms), from the target's 50 ms slots."""
    rows = [tuple(map(float, line.split())) for line in log.read_text().splitlines()
            if len(line.split()) == 2]
    return [1000 * max((g for t, g in rows if a <= t <= b + 0.06), default=0.0)
            for a, b in spans]


def timed(action, count: int, rest_s: float) -> tuple[list[tuple[float, float]], list[float]]:
    spans, cpu = [], []
    for _ in range(count):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        action()
        spans.append((start, time.monotonic()))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        time.sleep(rest_s)
    return spans, cpu


def row(name: str, pauses: list[float], spans: list[tuple[float, float]],
        cpu: list[float]) -> str:
    walls = [1000 * (b - a) for a, b in spans]
    return (f"| {name} | {statistics.median(pauses):.1f} (max {max(pauses):.1f}) | "
            f"{statistics.median(walls):.0f} | {1000 * statistics.median(cpu):.0f} | "
            f"{len(pauses)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--looks", type=int, default=8)
    parser.add_argument("--dumps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "gaps.txt"
        target = subprocess.Popen([sys.executable, "-c", TARGET, str(log)])
        try:
            while not log.exists() or log.stat().st_size < 200:
                time.sleep(0.1)
            idle = [(t, t + 0.3) for t in (time.monotonic() + 0.4 * k for k in range(8))]
            time.sleep(3.4)
            looks, look_cpu = timed(lambda: pyspy.look(target.pid), args.looks, 0.3)
            dumps, dump_cpu = timed(lambda: stacks.native_stacks(target.pid), args.dumps, 0.3)
            time.sleep(0.2)
            print(f"load {os.getloadavg()[0]:.2f}, py-spy {pyspy.available()}\n")
            print("| while | longest pause the target saw, ms: median (max) | wall ms | "
                  "py-spy CPU ms | n |\n|---|---|---|---|---|")
            print(row("nothing looks (baseline)", gaps(log, idle), idle, [0.0]))
            print(row("a non-blocking look (--locals)", gaps(log, looks), looks, look_cpu))
            print(row("a native dump (blocking)", gaps(log, dumps), dumps, dump_cpu))
        finally:
            target.kill()
            target.wait()


if __name__ == "__main__":
    main()
