"""Beaver-dam outflow forecaster.

From the last 24 hourly pond-stage readings (cm above the dam crest) plus the
hourly rain, predict the spillway discharge (L/s) 6 hours ahead.
Stage "calm": dry-weather weeks, all weights trained, silent until a summary.
Stage "storm": storm weeks (much harder); the input embedding learned on calm
weeks is frozen on purpose and only the mixer + head keep training.
Both stages use an mx.compile'd step.
"""
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
H, AHEAD = 24, 6


def make_weeks(n, storm):
    t = mx.arange(H + AHEAD, dtype=mx.float32)
    base = 8 + 2 * mx.random.normal((n, 1))
    diurnal = 0.6 * mx.sin(2 * math.pi * (t[None] + 24 * mx.random.uniform(shape=(n, 1))) / 24)
    rain = mx.zeros((n, H + AHEAD))
    if storm:
        onset = mx.random.randint(4, H, (n, 1))
        amp = mx.random.uniform(1.0, 4.0, (n, 1))
        rain = amp * mx.exp(-0.5 * ((t[None] - onset) / 2.0) ** 2)
    # pond stage integrates the rain with a lag
    kern = mx.exp(-mx.arange(12, dtype=mx.float32) / 4.0)
    rain_np = rain
    stage = base + diurnal
    acc = mx.zeros_like(rain)
    for lag in range(12):
        shifted = mx.concatenate([mx.zeros((n, lag)), rain_np[:, :H + AHEAD - lag]], axis=1)
        acc = acc + kern[lag] * shifted
    stage = stage + 1.5 * acc + 0.15 * mx.random.normal(stage.shape)
    # weir law: Q ~ c * head^1.5 (head above crest, cm -> L/s scale)
    q_future = 0.9 * mx.maximum(stage[:, H + AHEAD - 1], 0.0) ** 1.5
    x = mx.concatenate([stage[:, :H] / 10.0, rain_np[:, :H]], axis=1)
    return x, q_future / 30.0


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(2 * H, 48)
        self.mixer = [nn.Linear(48, 48), nn.Linear(48, 48)]
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.embed(x))
        for lin in self.mixer:
            h = h + nn.silu(lin(h))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def run_stage(name, model, opt, x, y, steps, batch, verbose):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    hist = []
    t0 = time.time()
    n = x.shape[0]
    for i in range(1, steps + 1):
        idx = mx.random.randint(0, n, (batch,))
        loss = step(x[idx], y[idx])
        mx.eval(state, loss)
        hist.append(loss.item())
        if verbose and (i % 50 == 0 or i == 1):
            pct = 100 * i // steps
            bar = "#" * (pct // 5) + " " * (20 - pct // 5)
            el = time.time() - t0
            print(f"{name}: {pct:3d}%|{bar}| {i}/{steps} [{el:4.1f}s, {i / max(el, 1e-6):5.0f}it/s, "
                  f"huber={hist[-1]:.4f}]", flush=True)
    return hist


def rmse_ls(model, x, y):
    return (mx.sqrt(mx.mean((model(x) - y) ** 2)) * 30.0).item()


x_calm, y_calm = make_weeks(1500, storm=False)
x_storm, y_storm = make_weeks(1500, storm=True)
xv_calm, yv_calm = make_weeks(300, storm=False)
xv_storm, yv_storm = make_weeks(300, storm=True)
mx.eval(x_calm, y_calm, x_storm, y_storm, xv_calm, yv_calm, xv_storm, yv_storm)

model = Forecaster()
mx.eval(model.parameters())
persist_storm = (mx.sqrt(mx.mean((0.9 * mx.maximum(xv_storm[:, H - 1] * 10, 0) ** 1.5 / 30 - yv_storm) ** 2)) * 30).item()
persist_calm = (mx.sqrt(mx.mean((0.9 * mx.maximum(xv_calm[:, H - 1] * 10, 0) ** 1.5 / 30 - yv_calm) ** 2)) * 30).item()

_, g = nn.value_and_grad(model, loss_fn)(model, x_calm[:64], y_calm[:64])
dead = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
print(f"gradient audit (calm): {len(tree_flatten(g))} tensors, zero-gradient: {dead or 'none'}")

# ---- stage calm: quiet until the summary ---------------------------------
opt1 = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
h1 = run_stage("calm", model, opt1, x_calm, y_calm, steps=600, batch=64, verbose=False)
print(f"[calm done] huber first={h1[0]:.4f} mid={h1[300]:.4f} last50={sum(h1[-50:]) / 50:.4f} | "
      f"RMSE calm {rmse_ls(model, xv_calm, yv_calm):.1f} L/s (persistence {persist_calm:.1f}) | "
      f"RMSE storm {rmse_ls(model, xv_storm, yv_storm):.1f} L/s (persistence {persist_storm:.1f})")

# ---- stage storm: embedding frozen on purpose -----------------------------
embed_before = mx.array(model.embed.weight)
head_before = mx.array(model.head.weight)
model.embed.freeze()
_, g = nn.value_and_grad(model, loss_fn)(model, x_storm[:64], y_storm[:64])
dead = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
print(f"gradient audit (storm): trainable tensors {len(tree_flatten(g))} "
      f"(embed frozen), zero-gradient: {dead or 'none'}")
opt2 = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
h2 = run_stage("storm", model, opt2, x_storm, y_storm, steps=500, batch=64, verbose=True)

d_embed = mx.linalg.norm(model.embed.weight - embed_before).item()
d_head = mx.linalg.norm(model.head.weight - head_before).item()
print(f"audit: |embed - embed_calm| = {d_embed:.3e} (frozen), |head - head_calm| = {d_head:.3e}")
print("summary")
print(f"  {'set':<6}{'model RMSE L/s':>16}{'persistence':>13}")
print(f"  {'calm':<6}{rmse_ls(model, xv_calm, yv_calm):>16.1f}{persist_calm:>13.1f}")
print(f"  {'storm':<6}{rmse_ls(model, xv_storm, yv_storm):>16.1f}{persist_storm:>13.1f}")
