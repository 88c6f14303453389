"""Probability that a snooker pot attempt goes in, from shot geometry. SGD with Nesterov
momentum; the learning rate climbs geometrically from 1e-7 for 500 steps (the loss barely
moves for the first few hundred), then decays by cosine. The run checkpoints at step 900,
a fresh process-like session reloads it and finishes."""
import json
import shutil
import os
import tempfile
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(21)
N, NV = 20000, 4000
cut = rng.uniform(0, 80, N + NV)            # cut angle, degrees
dist = rng.uniform(0.2, 3.0, N + NV)        # cue ball to object ball, m
pocket = rng.uniform(0.1, 2.5, N + NV)      # object ball to pocket, m
side = rng.integers(0, 2, N + NV)           # side pocket
rest = rng.integers(0, 2, N + NV)           # using the rest
cushion = rng.uniform(0, 0.3, N + NV)       # object ball to cushion, m
z = (3.2 - 0.045 * cut - 0.55 * dist * pocket - 0.6 * side * (cut > 40) - 0.7 * rest
     + 1.5 * np.minimum(cushion, 0.05) / 0.05 - 0.8)
y = (rng.random(N + NV) < 1 / (1 + np.exp(-z))).astype(np.float32)
X = np.stack([cut / 40 - 1, dist - 1.6, pocket - 1.3, side, rest, cushion * 5 - 0.75], 1).astype(np.float32)
Xtr, ytr, Xva, yva = mx.array(X[:N]), mx.array(y[:N]), mx.array(X[N:]), y[N:]
base = y[:N].mean()
base_ll = -np.mean(yva * np.log(base) + (1 - yva) * np.log(1 - base))
base_brier = np.mean((yva - base) ** 2)

STEPS, WARM, PEAK, BS, CKPT = 1800, 500, 0.2, 128, 900


def lr_at(step):
    s = step.astype(mx.float32)
    warm = 1e-7 * (PEAK / 1e-7) ** (s / WARM)
    t = mx.clip((s - WARM) / (STEPS - WARM), 0.0, 1.0)
    return mx.where(s < WARM, warm, 1e-4 + 0.5 * (PEAK - 1e-4) * (1 + mx.cos(np.pi * t)))


def build():
    m = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    o = optim.SGD(learning_rate=lr_at, momentum=0.9, nesterov=True)
    return m, o


def loss_fn(m, xb, yb):
    return nn.losses.binary_cross_entropy(m(xb).squeeze(-1), yb, with_logits=True)


def evaluate(m):
    p = np.array(mx.sigmoid(m(Xva).squeeze(-1)))
    p = np.clip(p, 1e-6, 1 - 1e-6)
    ll = -np.mean(yva * np.log(p) + (1 - yva) * np.log(1 - p))
    return ll, np.mean((yva - p) ** 2)


def run(m, o, start, stop, t0):
    vg = nn.value_and_grad(m, loss_fn)

    @partial(mx.compile, inputs=[m.state, o.state], outputs=[m.state, o.state])
    def step(xb, yb):
        loss, g = vg(m, xb, yb)
        o.update(m, g)
        return loss

    window = []
    for k in range(start + 1, stop + 1):
        lr_used = lr_at(mx.array(k - 1)).item()
        idx = mx.array(rng.integers(0, N, BS))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(loss, m.state, o.state)
        window.append(loss.item())
        if k % 100 == 0:
            ll, br = evaluate(m)
            print(f"shot {k:04d}/{STEPS}  lr {lr_used:8.2e}  train logloss {np.mean(window):.4f}  "
                  f"val logloss {ll:.4f} (base {base_ll:.4f})  brier {br:.4f} (base {base_brier:.4f})  "
                  f"{time.time() - t0:4.1f}s")
            window = []


print(f"pot attempts: {N} train / {NV} val, pot rate {100 * base:.1f}%")
mx.random.seed(2)
model, opt = build()
mx.eval(model.parameters())
ll0, br0 = evaluate(model)
print(f"untrained: val logloss {ll0:.4f}  brier {br0:.4f}")
t0 = time.time()
run(model, opt, 0, CKPT, t0)

ck = os.path.join(tempfile.mkdtemp(), "snooker_ck")
os.makedirs(ck)
model.save_weights(os.path.join(ck, "model.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
json.dump({"step": CKPT}, open(os.path.join(ck, "meta.json"), "w"))
before = evaluate(model)
del model, opt
print(f"checkpoint written at shot {CKPT} -> {ck}")

mx.random.seed(99)
model, opt = build()
model.load_weights(os.path.join(ck, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
start = json.load(open(os.path.join(ck, "meta.json")))["step"]
after = evaluate(model)
print(f"resumed at shot {start}: optimizer step {opt.step.item()}, "
      f"val logloss {after[0]:.4f} (was {before[0]:.4f})")
run(model, opt, start, STEPS, t0)
ll, br = evaluate(model)
print(f"final: val logloss {ll:.4f} vs base-rate {base_ll:.4f}; brier {br:.4f} vs {base_brier:.4f}")
shutil.rmtree(os.path.dirname(ck))
