"""What `mlxprobe watch` costs a real training loop (issue 10: its bootstrap < 1 % of a step).

Three measurements of the fixed tiny-LM loop (the step2-hang scenario's model, optimizer and
data as plain programs in children/):

1. The bootstrap in the loop (the target): children/agent_cost.py wraps the loop's real
   `AdamW.update` and `mx.eval` with the agent (heartbeats through the real writer to a pipe
   `cat` drains, its watcher thread running) and times each call outside the agent's wrapper
   and, inside it, around the MLX function: the difference is the agent's own work, with the
   caches as MLX's work leaves them. The same timing with no agent (`--shims-only`) is the
   measurement's floor, subtracted. Runs interleaved.
2. The parent's CPU while it watches the loop (`runner.run` in this process, its threads'
   own CPU time): what `watch` takes from a machine's cores besides the program.
3. The whole process: the loop run alternately bare and under `mlxprobe watch`, each first in
   turn, timing its own steps. On a 2-core machine this includes the parent's CPU competing
   with MLX's threads, and the loop's step time is bimodal here (11-18 ms within one bare
   process): the spread of the per-round ratios says how little it resolves.
The first 20 steps (warm-up, kernel compilation) are left out of each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench_common import Section, Target, median, spread

LOOP = Path(__file__).parent / "children" / "watch_loop.py"
AGENT = Path(__file__).parent / "children" / "agent_cost.py"
STEPS, WARMUP, ROUNDS, AGENT_ROUNDS = 300, 20, 6, 3


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


def in_loop(shims_only: bool) -> tuple[float, float]:
    """(median agent us a step, median step ms) of one agent_cost.py process."""
    command = [sys.executable, str(AGENT), str(STEPS), *(["--shims-only"] if shims_only
                                                          else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True,
                          start_new_session=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH "))
    found = json.loads(line[6:])
    return median(found["agent_us"]), median(found["step_ms"])


def parent_share() -> dict:
    """The parent's CPU (its threads) while `runner.run` watches the loop as `watch` does."""
    import time

    import bench_sampler

    from mlxprobe.commands.watch import WATCH_DEADLINES
    from mlxprobe.launching.launch import Launch
    from mlxprobe.watching import runner

    launch = Launch((sys.executable, str(LOOP), str(STEPS)), deadlines=WATCH_DEADLINES,
                    bootstrap=True, parse_output=True, records_fd=False, watched=True)
    made: dict = {}
    with bench_sampler.timed_threads("now", made):
        cpu_before = time.process_time()
        raw = runner.run(launch)
        cpu = time.process_time() - cpu_before
    return {"process": cpu / raw.wall_s, "sampler": made["sampler"].cpu_s / raw.wall_s,
            "reader": made["reader"].cpu_s / raw.wall_s, "steps": raw.step_count}


def run(args) -> Section:  # noqa: ANN001 - argparse.Namespace
    rounds = 2 if args.quick else ROUNDS
    times: dict[str, list[list[float]]] = {"bare": [], "watched": []}
    agent: dict[str, list[tuple[float, float]]] = {"agent": [], "floor": []}
    for index in range(2 if args.quick else AGENT_ROUNDS):
        for mode in ("agent", "floor") if index % 2 == 0 else ("floor", "agent"):
            agent[mode].append(in_loop(mode == "floor"))
    parents = [parent_share() for _ in range(2)]
    for index in range(rounds):
        order = ("bare", "watched") if index % 2 == 0 else ("watched", "bare")
        for mode in order:
            times[mode].append(one(mode == "watched", STEPS))
    return _section(times, agent, parents)


def _section(times: dict[str, list[list[float]]], agent: dict,
             parents: list[dict]) -> Section:
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
    own_us = median([a for a, _ in agent["agent"]]) - median([f for f, _ in agent["floor"]])
    step_ms = median([m for _, m in agent["agent"]])
    share = own_us / 1e3 / step_ms
    parent = median([p["process"] for p in parents])
    section.notes = [
        f"the bootstrap in the loop: {own_us:.1f} us a step of its own (agent "
        f"{median([a for a, _ in agent['agent']]):.1f} us minus the timing's floor "
        f"{median([f for f, _ in agent['floor']]):.1f} us; {len(agent['agent'])} processes "
        f"each) = {share:.2%} of that loop's median step, {step_ms:.3f} ms",
        f"the parent while it watches the loop: {parent:.2%} of a core (sampler "
        f"{median([p['sampler'] for p in parents]):.2%}, record reader "
        f"{median([p['reader'] for p in parents]):.2%}; {len(parents)} runs)",
        "whole process: step time as the program measures it (perf_counter around the "
        "whole step), bare and under `mlxprobe watch`, interleaved"]
    section.targets = [Target("watch's bootstrap", f"{share:.2%} of a step ({own_us:.1f} us, "
                              "in the loop)", "< 1 %", share < 0.01)]
    section.raw = {**{m: flat[m] for m in flat}, "agent": agent, "parents": parents}
    return section
