"""River gauge network: filling gaps in daily stage readings.

Ten gauges along one river report a daily stage (cm). About one in seven of the
readings are missing (random drop-outs plus multi-day outages). An MLP imputer
sees the observed readings and the observation mask, and is trained by hiding
some observed readings and reconstructing them; the loss is a masked mean over
the hidden-and-observed cells only.

Three stages hide 10 %, 30 % and 50 % of the observed cells, so the training
loss goes up at each stage switch (harder task). Each stage starts a new
learning-rate cycle with a linear warm-up from exactly 0. The run is
checkpointed in the middle of stage 2, everything is rebuilt from the files,
and training continues.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)
mx.random.seed(2024)

G, DAYS, NOISE_CM = 10, 3000, 2.0

# ---- synthetic river: log-flow AR(1) + season, each gauge a lagged rating curve
season = np.sin(2 * np.pi * np.arange(DAYS + 10) / 365.0)
flow = np.zeros(DAYS + 10)
for t in range(1, DAYS + 10):
    flow[t] = 0.93 * flow[t - 1] + 0.35 * rng.standard_normal() + 0.05 * season[t]
offset = rng.uniform(80, 220, G)
gain = rng.uniform(25, 60, G)
lag = np.arange(G) // 3
curv = rng.uniform(0.0, 0.25, G)
stage = np.stack([offset[g] + gain[g] * (flow[10 - lag[g]: 10 - lag[g] + DAYS]
                                         + curv[g] * flow[10 - lag[g]: 10 - lag[g] + DAYS] ** 2)
                  for g in range(G)], axis=1)
stage = stage + NOISE_CM * rng.standard_normal(stage.shape)

observed = rng.random((DAYS, G)) > 0.12
for g in range(G):
    for _ in range(6):
        s = rng.integers(0, DAYS - 20)
        observed[s: s + rng.integers(5, 20), g] = False

tr, va = slice(0, 2400), slice(2400, DAYS)
mu = np.array([stage[tr][observed[tr][:, g], g].mean() for g in range(G)])
sd = np.array([stage[tr][observed[tr][:, g], g].std() for g in range(G)])
z = np.where(observed, (stage - mu) / sd, 0.0).astype(np.float32)

Xtr, Mtr = mx.array(z[tr]), mx.array(observed[tr].astype(np.float32))
Xva, Mva = mx.array(z[va]), mx.array(observed[va].astype(np.float32))
# held-out evaluation pattern: 30 % of the observed validation cells are withheld
eval_hide = mx.array(((rng.random((DAYS - 2400, G)) < 0.3) & observed[va]).astype(np.float32))


class Imputer(nn.Module):
    def __init__(self, g=G, h=96):
        super().__init__()
        self.l1 = nn.Linear(2 * g, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, g)

    def __call__(self, x, m):
        h = nn.gelu(self.l1(mx.concatenate([x * m, m], axis=-1)))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)


def masked_mse(model, x, obs, hide):
    visible = obs * (1.0 - hide)
    pred = model(x, visible)
    w = obs * hide
    return ((pred - x) ** 2 * w).sum() / mx.maximum(w.sum(), 1.0)


def rmse_cm(model):
    visible = Mva * (1.0 - eval_hide)
    pred = model(Xva, visible)
    err = (pred - Xva) * mx.array(sd, dtype=mx.float32)
    w = eval_hide
    return float(mx.sqrt((err ** 2 * w).sum() / w.sum()).item())


def mean_fill_rmse_cm():
    err = (0.0 - Xva) * mx.array(sd, dtype=mx.float32)
    return float(mx.sqrt((err ** 2 * eval_hide).sum() / eval_hide.sum()).item())


STAGES = [(0.10, 300), (0.30, 300), (0.50, 300)]
WARM, PEAK, FLOOR = 20, 3e-3, 1e-4


def make_schedule():
    parts, bounds, t = [], [], 0
    for i, (_, n) in enumerate(STAGES):
        parts += [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, n - WARM, FLOOR)]
        t += WARM
        bounds.append(t)
        t += n - WARM
        if i < len(STAGES) - 1:
            bounds.append(t)
    return optim.join_schedules(parts, bounds)


def build():
    model = Imputer()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    return model, opt


def save(model, opt, folder):
    model.save_weights(os.path.join(folder, "imputer.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt.safetensors"), dict(tree_flatten(opt.state)))


def load(folder):
    model, opt = build()
    model.load_weights(os.path.join(folder, "imputer.safetensors"))
    opt.init(model.trainable_parameters())
    state = mx.load(os.path.join(folder, "opt.safetensors"))
    opt.state = tree_unflatten(list(state.items()))
    mx.eval(model.parameters(), opt.state)
    return model, opt


model, opt = build()
print(f"gauges {G}, train days 2400, valid days {DAYS - 2400}, missing {100 * (1 - observed.mean()):.1f}%")
print(f"valid RMSE on withheld cells: column-mean fill {mean_fill_rmse_cm():.2f} cm, "
      f"sensor noise {NOISE_CM:.1f} cm, untrained imputer {rmse_cm(model):.2f} cm")

BATCH, CKPT_AT = 64, 450
step, t0 = 0, time.perf_counter()
ckdir = tempfile.mkdtemp()
loss_and_grad = nn.value_and_grad(model, masked_mse)
for si, (hide_p, n_steps) in enumerate(STAGES, start=1):
    print(f"-- stage {si}/3: hiding {int(hide_p * 100)}% of observed cells during training")
    run = []
    for k in range(n_steps):
        idx = mx.array(rng.integers(0, 2400, BATCH))
        x, obs = Xtr[idx], Mtr[idx]
        hide = (mx.random.uniform(shape=obs.shape) < hide_p).astype(mx.float32)
        lr_now = float(opt.learning_rate.item()) if step > 0 else 0.0
        loss, grads = loss_and_grad(model, x, obs, hide)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run.append(loss.item())
        if step % 100 == 0:
            print(f"   step {step:3d}  lr {lr_now:.2e}  train masked-mse {np.mean(run[-100:]):.4f}")
        if step == CKPT_AT:
            before = rmse_cm(model)
            save(model, opt, ckdir)
            del model, opt, loss_and_grad
            model, opt = load(ckdir)
            loss_and_grad = nn.value_and_grad(model, masked_mse)
            after = rmse_cm(model)
            print(f"   checkpoint at step {step}: saved, rebuilt, reloaded "
                  f"(opt step {int(opt.state['step'].item())}, valid RMSE {before:.3f} -> {after:.3f} cm)")
    print(f"   end of stage {si}: valid RMSE {rmse_cm(model):.2f} cm "
          f"(column-mean fill {mean_fill_rmse_cm():.2f} cm, noise {NOISE_CM:.1f} cm)  "
          f"{time.perf_counter() - t0:.1f}s")

per_gauge = []
visible = Mva * (1.0 - eval_hide)
pred = model(Xva, visible)
for g in range(G):
    w = eval_hide[:, g]
    e = ((pred[:, g] - Xva[:, g]) * float(sd[g])) ** 2
    per_gauge.append(float(mx.sqrt((e * w).sum() / w.sum()).item()))
print("per-gauge valid RMSE cm: " + " ".join(f"{v:.1f}" for v in per_gauge))
