"""Point 2: what the child-side probe costs inside a real training loop.

The fixed tiny-LM loop of scenarios/step2_hang.py (same model, optimizer, data), in this
process, in blocks of BLOCK steps, three loops interleaved (each first in turn, after a
warm-up block each): bare; with `probe.step(loss=..., grad_norm=...)` on a real `Probe`
writing to an os.pipe drained by a thread of this process; the same with the pipe drained by
another process (`cat`), which is the harness's situation: its record reader is in the
parent. All three compute the loss and the global gradient norm as Python floats. Step time =
one whole step, perf_counter.

Reported: median step time of each, the overhead (loop/bare - 1) with the spread of the
per-round ratios of block medians, and the probe call's own cost.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

from bench_common import Section, Target, median, percentile, spread

from mlxprobe.inside.recorder import Probe

BLOCK = 50
ROUNDS = 10  # blocks per loop: 30 blocks in all, each loop first in turn


class Drain(threading.Thread):
    """Reads the pipe to EOF, like the record reader (without parsing)."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.bytes = 0

    def run(self) -> None:
        while chunk := os.read(self.fd, 1 << 16):
            self.bytes += len(chunk)
        os.close(self.fd)


class Loop:
    """The fixed tiny-LM loop, one step at a time (mlx imported here only)."""

    def __init__(self) -> None:
        import mlx.core as mx
        import mlx.nn as nn
        import mlx.optimizers as optim
        from mlx.utils import tree_flatten
        from mlxprobe_scenarios._lm import make_model, next_token_loss
        from mlxprobe_scenarios._text import batches, split

        self.mx, self.flatten = mx, tree_flatten
        self.model = make_model(0)
        self.optimizer = optim.AdamW(learning_rate=3e-3)
        self.loss_and_grad = nn.value_and_grad(self.model, next_token_loss)
        self.data = batches(split()[0], 8, 32, seed=1)

    def step(self) -> tuple[float, float]:
        mx = self.mx
        loss, grads = self.loss_and_grad(self.model, next(self.data))
        self.optimizer.update(self.model, grads)
        norm = mx.sqrt(sum(mx.sum(g * g) for _, g in self.flatten(grads)))
        mx.eval(loss, norm, self.model.parameters(), self.optimizer.state)
        return loss.item(), norm.item()


def block(loop: Loop, probe: Probe | None, calls: list[float]) -> list[float]:
    times = []
    for _ in range(BLOCK):
        started = time.perf_counter()
        loss, norm = loop.step()
        if probe is not None:
            before = time.perf_counter()
            probe.step(loss=loss, grad_norm=norm)
            calls.append(time.perf_counter() - before)
        times.append(time.perf_counter() - started)
    return times


def pipe_probes() -> tuple[dict, list]:
    """Two connected probes: one pipe drained by a thread here, one by another process."""
    read_fd, write_fd = os.pipe()
    drain = Drain(read_fd)
    drain.start()
    to_thread = os.fdopen(write_fd, "w", buffering=1)
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    probes = {"probe, pipe drained by a thread": Probe(to_thread),
              "probe, pipe drained by a process": Probe(cat.stdin)}
    return probes, [to_thread, cat.stdin, drain, cat]


def run(args) -> Section:  # noqa: ANN001 - argparse.Namespace
    rounds = 4 if args.quick else ROUNDS
    loop = Loop()
    probes, handles = pipe_probes()
    modes: dict[str, Probe | None] = {"bare": None, **probes}
    times: dict[str, list[list[float]]] = {name: [] for name in modes}
    calls: dict[str, list[float]] = {name: [] for name in modes}
    for probe in modes.values():  # warm-up: caches, allocator, first-graph compilation
        block(loop, probe, [])
    names = list(modes)
    for index in range(rounds):
        for name in names[index % 3:] + names[:index % 3]:  # each mode first in turn
            times[name].append(block(loop, modes[name], calls[name]))
    to_thread, to_cat, drain, cat = handles
    to_thread.close()
    to_cat.close()
    cat.wait(timeout=5)
    drain.join(timeout=5)
    return _section(times, calls)


def _section(times: dict[str, list[list[float]]], calls: dict[str, list[float]]) -> Section:
    bare = [t for b in times["bare"] for t in b]
    rounds = len(times["bare"])
    section = Section("overhead", f"2. Probe overhead in the tiny-LM loop ({rounds} blocks "
                      f"of {BLOCK} steps per loop, interleaved)",
                      ["loop", "median step ms", "p90 step ms", "steps", "vs bare",
                       "per block pair", "probe.step us"])
    overheads = {}
    for name, blocks in times.items():
        flat = [t for b in blocks for t in b]
        overheads[name] = median(flat) / median(bare) - 1
        pairs = [median(p) / median(b) - 1 for b, p in zip(times["bare"], blocks)]
        section.rows.append([name, f"{median(flat) * 1e3:.3f}",
                             f"{percentile(flat, 0.9) * 1e3:.3f}", str(len(flat)),
                             "-" if name == "bare" else f"{overheads[name]:+.2%}",
                             "-" if name == "bare" else spread([r * 100 for r in pairs],
                                                               "{:+.2f}") + " %",
                             spread([c * 1e6 for c in calls[name]], "{:.1f}")
                             if calls[name] else "-"])
    harness = "probe, pipe drained by a process"
    call_share = median(calls[harness]) / median(bare)
    section.notes = [
        "vs bare = median step of the loop / median bare step - 1; per block pair = the same "
        "per round of blocks (median [IQR]); the process-drained pipe is the harness's "
        "situation (the record reader is in the parent), the thread-drained one adds GIL "
        "hand-offs to this process",
        f"probe.step alone (process-drained): {call_share:.2%} of a median bare step"]
    section.targets = [Target("2. loop overhead", f"{overheads[harness]:+.2%} median step "
                              f"time (call alone {call_share:.2%}; thread-drained "
                              f"{overheads['probe, pipe drained by a thread']:+.2%})",
                              "< 3 %", overheads[harness] < 0.03)]
    section.raw = {name: [t * 1e3 for b in blocks for t in b] for name, blocks in times.items()}
    section.raw["call_us"] = {n: [c * 1e6 for c in cs] for n, cs in calls.items()}
    return section
