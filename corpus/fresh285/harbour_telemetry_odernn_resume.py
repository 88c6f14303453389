"""Harbour tide telemetry: the buoy radios a water-level reading at irregular
times (exponential gaps, mean 0.6 h). Predict the NEXT reading, given the
readings so far and the time until the next one.

Model: ODE-RNN. A GRU cell folds in each reading; between readings the hidden
state drifts under a learned vector field dh/dt = f(h), integrated with 2
explicit-midpoint substeps over the (irregular) gap; a linear head reads the
prediction off the drifted state.

The run is done in two sessions: session 1 trains 5 epochs and writes a
checkpoint (weights, optimizer state, step counter); session 2 builds a new
model and optimizer, restores them and trains 5 more epochs. The printed
baselines are last-value-carried-forward and the noise floor of the gauge.
"""
import json
import math
import os
import shutil
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
SEQ, NOISE = 16, 0.05
M2, K1 = 12.42, 23.93  # tidal periods in hours


def make_set(n):
    gaps = -0.6 * mx.log(mx.random.uniform(low=1e-4, high=1.0, shape=(n, SEQ + 1)))
    t = mx.cumsum(gaps, axis=1)
    a1 = mx.random.uniform(0.6, 1.0, (n, 1))
    a2 = mx.random.uniform(0.1, 0.35, (n, 1))
    p1 = mx.random.uniform(0, 2 * math.pi, (n, 1))
    p2 = mx.random.uniform(0, 2 * math.pi, (n, 1))
    level = a1 * mx.cos(2 * math.pi * t / M2 + p1) + a2 * mx.cos(2 * math.pi * t / K1 + p2)
    obs = level + NOISE * mx.random.normal(level.shape)
    x = mx.stack([obs[:, :-1], gaps[:, 1:]], axis=-1)   # reading k, gap to reading k+1
    y = obs[:, 1:]                                      # reading k+1
    return x, y


xtr, ytr = make_set(1536)
xva, yva = make_set(256)


class ODERNN(nn.Module):
    def __init__(self, hidden=32, substeps=2):
        super().__init__()
        self.hidden, self.substeps = hidden, substeps
        self.wx = nn.Linear(1, 3 * hidden)
        self.wh = nn.Linear(hidden, 3 * hidden)
        self.f1 = nn.Linear(hidden, hidden)
        self.f2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def field(self, h):
        return self.f2(mx.tanh(self.f1(h)))

    def gru(self, x, h):
        gx, gh = self.wx(x), self.wh(h)
        H = self.hidden
        r = mx.sigmoid(gx[:, :H] + gh[:, :H])
        z = mx.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = mx.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1 - z) * n + z * h

    def __call__(self, x):
        B = x.shape[0]
        h = mx.zeros((B, self.hidden))
        outs = []
        for k in range(x.shape[1]):
            h = self.gru(x[:, k, :1], h)
            dt = x[:, k, 1:2] / self.substeps
            for _ in range(self.substeps):
                h_mid = h + 0.5 * dt * self.field(h)
                h = h + dt * self.field(h_mid)
            outs.append(self.head(h)[:, 0])
        return mx.stack(outs, axis=1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


BATCH, EPOCHS, WARM = 64, 10, 40
STEPS_PER_EPOCH = xtr.shape[0] // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, WARM),
         optim.cosine_decay(4e-3, TOTAL - WARM, 3e-4)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def build_step(model, opt):
    state = [model.state, opt.state]

    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss, gnorm

    return mx.compile(step, inputs=state, outputs=state)


def val_mse(model):
    return loss_fn(model, xva, yva).item()


locf = mx.mean((xva[:, :, 0] - yva) ** 2).item()
print(f"train {xtr.shape[0]} seqs x {SEQ} readings, val {xva.shape[0]}; "
      f"baselines: last-value {locf:.4f}, gauge noise floor {NOISE ** 2:.4f}")


def run_epochs(model, opt, first_epoch, last_epoch, tag):
    step_fn = build_step(model, opt)
    for epoch in range(first_epoch, last_epoch + 1):
        perm = mx.random.permutation(xtr.shape[0])
        tl, t0 = 0.0, time.time()
        for i in range(STEPS_PER_EPOCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, gnorm = step_fn(xtr[idx], ytr[idx])
            mx.eval(loss, gnorm, model.state, opt.state)
            tl += loss.item()
        print(f"[{tag}] epoch {epoch:2d} step {opt.step.item():4d} lr {opt.learning_rate.item():.2e} "
              f"train {tl / STEPS_PER_EPOCH:.4f} val {val_mse(model):.4f} "
              f"(last-value {locf:.4f}) gnorm {gnorm.item():.3f} {time.time() - t0:.1f}s")


ckpt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harbour_ckpt")
os.makedirs(ckpt, exist_ok=True)
t_start = time.time()

# ---- session 1
model = ODERNN()
mx.eval(model.parameters())
opt = make_optimizer()
run_epochs(model, opt, 1, 5, "session 1")
v_before = val_mse(model)
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as fh:
    json.dump({"epoch": 5, "val": v_before}, fh)
print(f"checkpoint written to {ckpt} (val {v_before:.4f})")
del model, opt

# ---- session 2: fresh objects, restore everything
model = ODERNN()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
meta = json.load(open(os.path.join(ckpt, "meta.json")))
mx.eval(model.parameters(), opt.state)
v_after = val_mse(model)
print(f"restored epoch {meta['epoch']} step {opt.step.item()} lr {opt.learning_rate.item():.2e}; "
      f"val {v_after:.4f} (saved {meta['val']:.4f})")
assert abs(v_after - meta["val"]) < 1e-6
run_epochs(model, opt, meta["epoch"] + 1, EPOCHS, "session 2")

final = val_mse(model)
print(f"final val mse {final:.4f}  last-value baseline {locf:.4f}  noise floor {NOISE ** 2:.4f}  "
      f"total {time.time() - t_start:.1f}s")
shutil.rmtree(ckpt)
print("PASS" if final < 0.5 * locf else "CHECK")
