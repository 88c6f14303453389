"""What the interposer costs a native program (issue 22: < 1 % of a step).

1. Per evaluation: benchmarks/native/eval_cost.cpp times 20,000 single `mlx::core::eval`
   calls of a one-op graph, bare and with the interposer preloaded (its records written to a
   pipe this process drains, as `watch` reads them), interleaved, ROUNDS each; the difference
   of the medians is the interposer's own work per evaluation (a clock read, three memory
   counters, a queue append under a mutex).
2. Against a step: the fixed native_step2 loop's median step (from its own heartbeats under
   `mlxprobe watch`); a training step evaluates once, so cost % = (1) / step.
3. The whole program: native_step2 fixed, 300 steps, bare and preloaded, wall time,
   interleaved (noisy on a shared machine: the spread is printed with it).

Run: python benchmarks/bench_interposer.py (builds once, cached, like the scenarios).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mlxprobe.native import build  # noqa: E402

ROUNDS, CALLS = 5, 20000


def drained_run(argv: list[str], preload: str | None) -> tuple[str, float]:
    """(stdout, wall seconds) of a run, with the interposer writing to a drained pipe."""
    env = dict(os.environ)
    read_fd, write_fd = os.pipe()
    if preload:
        env.update(LD_PRELOAD=preload, MLXPROBE_RECORD_FD=str(write_fd))
    drain = threading.Thread(target=lambda: [None for _ in iter(
        lambda: os.read(read_fd, 65536), b"")], daemon=True)
    drain.start()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, pass_fds=(write_fd,),
                          start_new_session=True, check=True)
    wall = time.perf_counter() - start
    os.close(write_fd)
    drain.join(5)
    os.close(read_fd)
    return done.stdout, wall


def per_eval(bench: Path, preload: str) -> tuple[list[float], list[float]]:
    bare, loaded = [], []
    for r in range(ROUNDS):
        for with_it in ((False, True) if r % 2 == 0 else (True, False)):
            out, _ = drained_run([str(bench), str(CALLS)], preload if with_it else None)
            (loaded if with_it else bare).append(float(out.split()[1]))
    return bare, loaded


def step_ms(program: Path) -> float:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "watch.json"
        subprocess.run([sys.executable, "-m", "mlxprobe.cli", "watch", "--no-status", "--json",
                        str(out), "--", str(program), "fixed"], capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(HERE.parent)})
        return float(json.loads(out.read_text())["runs"][0]["metrics"]["step_ms_median"])


def whole(program: Path, preload: str) -> tuple[list[float], list[float]]:
    bare, loaded = [], []
    for r in range(ROUNDS):
        for with_it in ((False, True) if r % 2 == 0 else (True, False)):
            _, wall = drained_run([str(program), "fixed"], preload if with_it else None)
            (loaded if with_it else bare).append(wall)
    return bare, loaded


def main() -> None:
    preload = str(build.interposer())
    bench = build.program(HERE / "native", "eval_cost")
    program = build.program(HERE.parent / "scenarios" / "native", "native_step2")
    print(f"load average at start: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
    bare, loaded = per_eval(bench, preload)
    cost_us = statistics.median(loaded) - statistics.median(bare)
    print(f"eval of a one-op graph, median of {CALLS} calls, {ROUNDS} rounds each: bare "
          f"{statistics.median(bare):.2f} us {sorted(bare)}, interposer "
          f"{statistics.median(loaded):.2f} us {sorted(loaded)}: +{cost_us:.2f} us per eval")
    step = step_ms(program)
    print(f"native_step2 fixed: median step {step:.2f} ms; interposer per step "
          f"{cost_us / 1000:.4f} ms = {100 * cost_us / 1000 / step:.3f} % (target < 1 %)")
    bare, loaded = whole(program, preload)
    ratios = [b / a for a, b in zip(bare, loaded)]
    print(f"whole program (300 steps) wall s: bare {[round(x, 2) for x in bare]}, interposer "
          f"{[round(x, 2) for x in loaded]}; median ratio {statistics.median(ratios):.3f} "
          f"(spread {min(ratios):.3f}-{max(ratios):.3f})")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
