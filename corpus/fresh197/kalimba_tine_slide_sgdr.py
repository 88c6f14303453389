"""Kalimba tuning helper: from the pitch error (cents) of the fundamental and of the
bright overtone of each of 16 tines, predict how far to slide each tine through the
bridge, in 0.5 mm taps (positive = longer, flatter). Tines sit zig-zag on the bridge, so
a tap couples into the neighbours. Sweep over 3 seeds; each run uses linear warm-up from
lr=0 and cosine warm restarts (SGDR), emitting JSON lines."""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_TINE = 16
STEPS = 450
WARM = 30
CYCLES = (60, 120, 240)   # SGDR cycle lengths after warm-up


def bridge_coupling():
    # cents change at every tine (fundamental, overtone) per 0.5 mm tap on each tine
    pos = mx.array([(-1) ** i * (i // 2) for i in range(N_TINE)], dtype=mx.float32)  # zig-zag layout
    d = pos[:, None] - pos[None, :]
    short = mx.linspace(1.0, 2.2, N_TINE)             # short (high) tines move more per tap
    fund = -6.0 * short[None, :] * mx.exp(-1.5 * d * d)
    over = 1.25 * fund + 1.5 * (mx.abs(d) == 1)     # overtone: stiffer, plus bridge rattle
    return mx.concatenate([fund, over], axis=0)     # (32, 16)


def lr_at(step, peak):
    if step < WARM:
        return peak * step / WARM              # exactly 0 at step 0
    s = step - WARM
    for c in CYCLES:
        if s < c:
            return 1e-4 + 0.5 * (peak - 1e-4) * (1 + math.cos(math.pi * s / c))
        s -= c
    return 1e-4


class TineTuner(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2 * N_TINE, 80)
        self.l2 = nn.Linear(80, 80)
        self.out = nn.Linear(80, N_TINE)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


FB = bridge_coupling()


def sample(n):
    taps = mx.round(mx.random.normal((n, N_TINE)) * 1.5)               # taps needed
    cents = taps @ FB.T + 2.0 * mx.random.normal((n, 2 * N_TINE))      # tuner-app jitter
    return cents / 20.0, taps


def run(seed, peak=3e-3):
    mx.random.seed(seed)
    model = TineTuner()
    opt = optim.Adamax(learning_rate=0.0)
    state = [model.state, opt.state]

    def loss_fn(x, y):
        return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(x, y)
        opt.update(model, g)
        return loss

    xv, yv = sample(512)
    base_mae = mx.abs(yv).mean().item()  # "leave the tines alone" baseline
    for it in range(STEPS):
        opt.learning_rate = mx.array(lr_at(it, peak))
        x, y = sample(128)
        loss = step(x, y)
        mx.eval(state, loss)
        if it % 30 == 0 or it == STEPS - 1:
            pred = model(xv)
            mae = mx.abs(pred - yv).mean().item()
            resid = mx.abs((yv - mx.round(pred)) @ FB.T).max(axis=1).mean().item()
            print(json.dumps({"seed": seed, "step": it, "lr": round(lr_at(it, peak), 6),
                              "huber": round(loss.item(), 4), "mae_taps": round(mae, 4),
                              "baseline_mae_taps": round(base_mae, 4),
                              "worst_tine_cents": round(resid, 2)}))
    return mae


results = {s: run(s) for s in (11, 12, 13)}
print(json.dumps({"summary": "sweep", "mae_taps_per_seed": {str(k): round(v, 4) for k, v in results.items()},
                  "mean": round(sum(results.values()) / len(results), 4)}))
