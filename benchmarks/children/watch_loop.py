"""The fixed tiny-LM loop of scenarios/step2_hang.py as a plain program (no mlxprobe import):
for `bench_watch`, run bare and under `mlxprobe watch`. Prints `step N loss X` every 20 steps
and, at the end, `BENCH {"step_ms": [...]}` with every step's time (perf_counter)."""

import json
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlxprobe_scenarios._lm import make_model, next_token_loss
from mlxprobe_scenarios._text import batches, split

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
model = make_model(0)
optimizer = optim.AdamW(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, next_token_loss)
times = []
for step, tokens in enumerate(batches(split()[0], 8, 32, seed=1), start=1):
    began = time.perf_counter()
    loss, grads = loss_and_grad(model, tokens)
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    times.append(time.perf_counter() - began)
    if step % 20 == 0:
        print(f"step {step} loss {loss.item():.4f}", flush=True)
    if step == STEPS:
        break
print("BENCH " + json.dumps({"step_ms": [t * 1e3 for t in times]}), flush=True)
