"""Fellside beck gauges: one network for several catchments.

Four river gauges on the fells each have their own rainfall-to-peak-flow
response (different area, soil, slope).  Inputs per storm: 6 readings
(rain total, rain intensity, antecedent wetness, snowmelt index, temperature,
hours since previous storm).  Target: log peak flow.  One shared SiLU trunk is
modulated per gauge by FiLM (scale/shift) produced from a learned gauge
embedding, so every gauge is a task selected by its id.

Stage 1 (4 gauges): each step draws ONE gauge; the draw probability follows the
running training loss of each gauge (p ~ ema_loss ** 0.5, floored), so harder
gauges are visited more.  Adam with warm-up from exactly 0 then cosine.
Halfway through, weights, optimizer state and sampler state are written to
disk, everything is rebuilt, reloaded and the run continues.
Stage 2: a fifth gauge with only 48 storms.  Everything is frozen except the
embedding table; a fresh Adam adapts only the new gauge's row.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)
mx.random.seed(5)
D, EMB, H = 6, 8, 64

# gauge-specific hydrology (area, response sharpness, wetness sensitivity, melt share)
GAUGES = [
    (1.0, 1.0, 0.6, 0.2),
    (2.2, 0.6, 1.1, 0.1),
    (0.5, 1.6, 0.3, 0.6),
    (1.4, 0.9, 0.8, 0.9),
    (1.1, 1.2, 0.7, 0.5),  # the new gauge for stage 2 (between the others)
]
NOISE = 0.15


def storms(g, n):
    area, sharp, wet, melt = GAUGES[g]
    x = rng.normal(size=(n, D)).astype(np.float32)
    rain, inten, antec, snow, temp, gap = x.T
    eff = rain + wet * antec + melt * snow * (temp > -0.3) - 0.2 * gap
    y = (np.log(area) + 0.8 * np.tanh(sharp * eff) + 0.35 * sharp * inten
         + 0.15 * eff * inten + rng.normal(scale=NOISE, size=n))
    return x, y.astype(np.float32)


TRAIN = [storms(g, 2500) for g in range(4)]
VAL = [storms(g, 500) for g in range(4)]
NEW_TRAIN, NEW_VAL = storms(4, 48), storms(4, 800)


class GaugeNet(nn.Module):
    def __init__(self, n_gauges=5):
        super().__init__()
        self.gauge_emb = nn.Embedding(n_gauges, EMB)
        self.l1 = nn.Linear(D, H)
        self.l2 = nn.Linear(H, H)
        self.film1 = nn.Linear(EMB, 2 * H)
        self.film2 = nn.Linear(EMB, 2 * H)
        self.out = nn.Linear(H, 1)

    def __call__(self, x, g):
        e = self.gauge_emb(g)
        s1, b1 = mx.split(self.film1(e), 2, axis=-1)
        s2, b2 = mx.split(self.film2(e), 2, axis=-1)
        z = nn.silu(self.l1(x) * (1 + s1) + b1)
        z = nn.silu(self.l2(z) * (1 + s2) + b2)
        return self.out(z).squeeze(-1)


def loss_fn(model, x, g, y):
    return nn.losses.mse_loss(model(x, g), y)


def val_rmse(model, g, data):
    x, y = data
    p = model(mx.array(x), mx.full((len(y),), g, dtype=mx.int32))
    r = mx.sqrt(mx.mean((p - mx.array(y)) ** 2))
    mx.eval(r)
    return r.item()


STEPS1, HALF, BATCH, WARM = 1200, 600, 64, 80
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS1 - WARM, 1e-4)],
    [WARM])


def build():
    m = GaugeNet()
    mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=sched)


def row(*cols):
    print("  ".join(str(c).rjust(w) for c, w in zip(cols, (6, 6, 9, 28, 28, 9))))


model, opt = build()
step_fn = nn.value_and_grad(model, loss_fn)
ema = np.ones(4)
visits = np.zeros(4, dtype=int)

print("# stage 1: four gauges, loss-led gauge sampling")
print("# reference: predicting each gauge's own mean gives val rmse",
      [round(float(np.std(v[1])), 3) for v in VAL], " noise floor", NOISE)
row("phase", "step", "lr", "p(gauge 0..3)", "val rmse (gauge 0..3)", "secs")

ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
step = 0
while step < STEPS1:
    step += 1
    p = np.sqrt(ema)
    p = np.maximum(p / p.sum(), 0.05)
    p = p / p.sum()
    g = int(rng.choice(4, p=p))
    visits[g] += 1
    x, y = TRAIN[g]
    idx = rng.integers(0, len(y), BATCH)
    lr_now = float(np.array(sched(opt.step)))
    loss, grads = step_fn(model, mx.array(x[idx]), mx.full((BATCH,), g, dtype=mx.int32),
                          mx.array(y[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema[g] = 0.9 * ema[g] + 0.1 * loss.item()
    if step == 1:
        print(f"# first update ran at lr {lr_now:.1f}; gauge {g} drawn")
    if step % 150 == 0:
        vr = [val_rmse(model, k, VAL[k]) for k in range(4)]
        row("fit", step, f"{lr_now:.2e}", " ".join(f"{q:.2f}" for q in p),
            " ".join(f"{v:.3f}" for v in vr), f"{time.time() - t0:.1f}")
    if step == HALF:
        wpath = os.path.join(ckpt_dir, "weights.safetensors")
        opath = os.path.join(ckpt_dir, "opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        with open(os.path.join(ckpt_dir, "sampler.json"), "w") as f:
            json.dump({"ema": ema.tolist(), "visits": visits.tolist(), "step": step}, f)
        probe_before = val_rmse(model, 0, VAL[0])
        del model, opt, step_fn
        model, opt = build()
        model.load_weights(wpath)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        with open(os.path.join(ckpt_dir, "sampler.json")) as f:
            s = json.load(f)
        ema = np.array(s["ema"])
        visits = np.array(s["visits"])
        probe_after = val_rmse(model, 0, VAL[0])
        print(f"# resumed at step {s['step']} (optimizer step {opt.step.item()}), "
              f"probe rmse {probe_before:.4f} -> {probe_after:.4f}")

print("# visits per gauge", visits.tolist())

# stage 2: new gauge, adapt only the embedding table
print("# stage 2: gauge 4 with 48 storms, only the gauge embedding trains")
before = {k: v for k, v in tree_flatten(model.parameters())}
model.freeze()
model.gauge_emb.unfreeze()
print("# trainable leaves:", [k for k, _ in tree_flatten(model.trainable_parameters())])

ref = [val_rmse(model, k, NEW_VAL) for k in range(4)]
print("# borrowing an old gauge's embedding for gauge 4 gives val rmse",
      " ".join(f"{r:.3f}" for r in ref), "; its own mean gives", round(float(np.std(NEW_VAL[1])), 3))
sched2 = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-2, 20), optim.cosine_decay(2e-2, 280, 1e-3)], [20])
opt2 = optim.Adam(learning_rate=sched2)
step_fn = nn.value_and_grad(model, loss_fn)
xn, yn = mx.array(NEW_TRAIN[0]), mx.array(NEW_TRAIN[1])
gn = mx.full((len(NEW_TRAIN[1]),), 4, dtype=mx.int32)
row("phase", "step", "lr", "train mse (48 storms)", "val rmse gauge 4", "secs")
for s2 in range(1, 301):
    lr_now = float(np.array(sched2(opt2.step)))
    loss, grads = step_fn(model, xn, gn, yn)
    opt2.update(model, grads)
    mx.eval(model.parameters(), opt2.state, loss)
    if s2 in (1, 25, 50, 100, 200, 300):
        row("adapt", s2, f"{lr_now:.2e}", f"{loss.item():.4f}",
            f"{val_rmse(model, 4, NEW_VAL):.3f}", f"{time.time() - t0:.1f}")

after = dict(tree_flatten(model.parameters()))
drift = {k: float(mx.max(mx.abs(after[k] - before[k])).item()) for k in before}
emb_old = float(mx.max(mx.abs(after["gauge_emb.weight"][:4] - before["gauge_emb.weight"][:4])).item())
emb_new = float(mx.max(mx.abs(after["gauge_emb.weight"][4] - before["gauge_emb.weight"][4])).item())
print(f"# max drift outside the embedding: {max(v for k, v in drift.items() if k != 'gauge_emb.weight'):.1e}; "
      f"old gauge rows: {emb_old:.1e}; new gauge row: {emb_new:.3f}")
print("# old gauges after stage 2:", " ".join(f"{val_rmse(model, k, VAL[k]):.3f}" for k in range(4)))
print(f"# done in {time.time() - t0:.1f}s")
