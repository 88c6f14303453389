"""How fast `mlxprobe run` lets go on Ctrl-C / SIGTERM / SIGKILL: seconds until it exits and
until the last process of the run is gone.

    python benchmarks/interrupt.py --trials 5

Each trial runs two endless variants in parallel (`--jobs 2`), one of them ignoring SIGTERM
(so it needs the SIGKILL after the grace period), sends the signal once both heartbeat, and
times the exit and the disappearance of every process that carries the trial's marker in its
environment. Prints the medians and maxima; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

MARK = "MLXPROBE_BENCH_MARK"
MODULE = '''
import signal
import time

SCENARIO = {"id": "endless", "title": "endless", "variants": {"plain": "hang", "deaf": "hang"}}


def plain(probe):
    while True:
        time.sleep(0.02)
        probe.step(loss=1.0)


def deaf(probe):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    plain(probe)
'''


def marked(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def children_of_run(mark: str) -> int:
    return sum(1 for p in marked(mark) if "mlxprobe.inside.child" in p.cmdline())


def trial(folder: Path, signum: int) -> tuple[float, float]:
    mark = uuid.uuid4().hex
    cli = subprocess.Popen([sys.executable, "-m", "mlxprobe.cli", "run", "--quiet", "--all",
                            "--jobs", "2", "--scenarios", str(folder), "--step-floor", "60"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, MARK: mark})
    while children_of_run(mark) < 2:
        time.sleep(0.05)
    time.sleep(0.5)
    sent = time.monotonic()
    cli.send_signal(signum)
    cli.wait()
    exited = time.monotonic() - sent
    while marked(mark):
        time.sleep(0.01)
    return exited, time.monotonic() - sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "endless.py").write_text(MODULE)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            times = [trial(folder, signum) for _ in range(args.trials)]
            exits, gones = [t[0] for t in times], [t[1] for t in times]
            print(f"{signal.Signals(signum).name:8s} exit s median {statistics.median(exits):.2f}"
                  f" max {max(exits):.2f}; all gone s median {statistics.median(gones):.2f} "
                  f"max {max(gones):.2f} ({args.trials} trials, load "
                  f"{os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
