"""The watch agent's own time inside the real tiny-LM loop (for `bench_watch`).

The loop of children/watch_loop.py, with `mx.eval` and `AdamW.update` wrapped by the agent
(`Beats`, as the bootstrap wraps them) writing its heartbeats through the real writer to a
pipe that `cat` drains, and its open-evaluation watcher thread running. Each call is timed
from outside the agent's wrapper and, inside it, around the original MLX function: the
difference is the agent's own work, with the caches as a real step leaves them. Prints
`BENCH {"agent_us": [...], "step_ms": [...]}` (per step, after WARMUP steps). With
`--shims-only`, no agent: what the timing shims alone read (the measurement's floor).
"""

import json
import os
import subprocess
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlxprobe_scenarios._lm import make_model, next_token_loss
from mlxprobe_scenarios._text import batches, split

from mlxprobe.inside.beats import Beats, patch_eval, watch_open_evals
from mlxprobe.inside.recorder import Probe

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
WARMUP = 20
inner = [0.0]  # time inside the original MLX functions during the current step


def timed(original):
    def call(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inner[0] += time.perf_counter() - began
    return call


read_fd, write_fd = os.pipe()
drain = subprocess.Popen(["cat"], stdin=read_fd, stdout=subprocess.DEVNULL)
os.close(read_fd)
stream = os.fdopen(write_fd, "w", buffering=1)
beats = Beats(Probe(stream))
mx.eval = timed(mx.eval)
optim.AdamW.update = timed(optim.AdamW.update)
if "--shims-only" not in sys.argv:  # else: the floor of this measurement (the shims alone)
    patch_eval(beats, mx)
    optim.AdamW.update = beats.updating(optim.AdamW.update)
    watch_open_evals(beats)

model = make_model(0)
optimizer = optim.AdamW(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, next_token_loss)
agent, steps = [], []
for step, tokens in enumerate(batches(split()[0], 8, 32, seed=1), start=1):
    began = time.perf_counter()
    loss, grads = loss_and_grad(model, tokens)
    outer = time.perf_counter()
    inner[0] = 0.0
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    done = time.perf_counter()
    agent.append((done - outer - inner[0]) * 1e6)
    steps.append((done - began) * 1e3)
    if step == STEPS:
        break
beats.probe.flush()
stream.close()
drain.wait(timeout=10)
print("BENCH " + json.dumps({"agent_us": agent[WARMUP:], "step_ms": steps[WARMUP:]}))
