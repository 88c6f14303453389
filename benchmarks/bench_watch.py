"""What `mlxprobe watch`'s bootstrap costs inside a real training loop (issue 10: < 1 %).

The fixed tiny-LM loop (children/watch_loop.py, a plain program: the step2-hang scenario's
model, optimizer and data) is run as its own process, alternately bare (`python loop.py`) and
under `mlxprobe watch -- python loop.py`, each first in turn. The program times each of its
steps itself (perf_counter around forward, backward, update and mx.eval), so the figure is
the step time the user sees, with the agent's wrappers (Optimizer.update, mx.eval), its
record writes and the parent's sampling all in it. The first 20 steps (warm-up, kernel
compilation) are left out.

Reported: median step time of each mode over all rounds, the overhead (watched/bare - 1)
with the spread of the per-round ratios.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench_common import Section, Target, median, spread

LOOP = Path(__file__).parent / "children" / "watch_loop.py"
STEPS, WARMUP, ROUNDS = 300, 20, 6


def one(watched: bool, steps: int) -> list[float]:
    program = [sys.executable, str(LOOP), str(steps)]
    command = [sys.executable, "-m", "mlxprobe.cli", "watch", "--", *program] if watched \
        else program
    # both in a session of their own, as watch starts the program: with autogroup scheduling
    # a process's CPU share depends on its session (measured: -40% "overhead" otherwise)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                          start_new_session=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    return json.loads(line[6:])["step_ms"][WARMUP:]


def per_step_cost_us(calls: int = 20_000) -> float:
    """The agent's own cost of one step, in this process: a wrapped update and a wrapped
    evaluation around no-op functions, with the heartbeat record written to a pipe that
    another process drains (the parent's situation)."""
    import os
    import time

    from mlxprobe.inside.beats import Beats
    from mlxprobe.inside.recorder import Probe

    read_fd, write_fd = os.pipe()
    drain = subprocess.Popen(["cat"], stdin=read_fd, stdout=subprocess.DEVNULL)
    os.close(read_fd)
    beats = Beats(Probe(os.fdopen(write_fd, "w", buffering=1)))
    update, evaluate = beats.updating(lambda: None), beats.evaluating(lambda: None)
    began = time.perf_counter()
    for _ in range(calls):
        update()
        evaluate()
    spent = (time.perf_counter() - began) / calls
    beats.probe._stream.close()
    drain.wait(timeout=10)
    return spent * 1e6


def run(args) -> Section:  # noqa: ANN001 - argparse.Namespace
    rounds = 2 if args.quick else ROUNDS
    times: dict[str, list[list[float]]] = {"bare": [], "watched": []}
    for index in range(rounds):
        order = ("bare", "watched") if index % 2 == 0 else ("watched", "bare")
        for mode in order:
            times[mode].append(one(mode == "watched", STEPS))
    return _section(times, per_step_cost_us())


def _section(times: dict[str, list[list[float]]], cost_us: float) -> Section:
    flat = {m: [t for r in rounds for t in r] for m, rounds in times.items()}
    overhead = median(flat["watched"]) / median(flat["bare"]) - 1
    pairs = [median(w) / median(b) - 1 for b, w in zip(times["bare"], times["watched"])]
    section = Section("watch", f"Watch overhead in the tiny-LM loop ({len(times['bare'])} "
                      f"processes per mode, {STEPS - WARMUP} timed steps each, interleaved)",
                      ["mode", "median step ms", "steps", "vs bare", "per round pair"])
    for mode, values in flat.items():
        section.rows.append([mode, f"{median(values):.3f}", str(len(values)),
                             "-" if mode == "bare" else f"{overhead:+.2%}",
                             "-" if mode == "bare" else spread([p * 100 for p in pairs],
                                                               "{:+.2f}") + " %"])
    section.notes = ["step time as the program measures it (perf_counter around the whole "
                     "step); watched = under `mlxprobe watch` with the bootstrap's wrappers, "
                     "one heartbeat record per step and the parent sampling at 20 Hz"]
    share = cost_us / 1e3 / median(flat["bare"])
    section.notes.append(f"the agent's own work per step (a wrapped update + a wrapped eval + "
                         f"one record, no-op bodies, this process): {cost_us:.1f} us = "
                         f"{share:.2%} of the median bare step")
    section.targets = [Target("watch overhead", f"{overhead:+.2%} median step time (agent's "
                              f"own work {share:.2%})", "< 1 %", overhead < 0.01)]
    section.raw = {**{m: flat[m] for m in flat}, "agent_us_per_step": cost_us}
    return section
