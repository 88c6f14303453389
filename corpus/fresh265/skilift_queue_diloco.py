# Four ski resorts train one shared queue-time model without pooling their data:
# each resort runs a burst of local AdamW steps from the shared weights, the
# shared weights then move along the averaged weight change (outer Nesterov SGD).
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
NOISE = 0.35  # std of the queue-time noise (standardised units)


def resort_data(n, snow_shift, crowd_scale):
    snow = rng.gamma(2.0, 10.0, n) + snow_shift          # cm fresh snow
    temp = rng.normal(-5, 5, n)                           # deg C
    hour = rng.uniform(8.5, 16.5, n)                      # time of day
    weekend = (rng.random(n) < 0.35).astype(float)
    lifts_open = rng.integers(3, 11, n).astype(float)
    wind = rng.gamma(2.0, 4.0, n)                         # km/h
    crowd = crowd_scale * (1 + 0.8 * weekend) * (1 + 0.02 * snow) * np.exp(-((hour - 11.5) ** 2) / 6)
    wait = 4 * crowd / np.sqrt(lifts_open) + 0.08 * np.maximum(wind - 15, 0) - 0.05 * np.abs(temp + 4)
    X = np.stack([snow / 20, temp / 5, (hour - 12) / 3, weekend, lifts_open / 5, wind / 10], 1)
    return X.astype(np.float32), wait.astype(np.float32)


shards = [resort_data(1500, s, c) for s, c in [(0, 1.0), (10, 1.3), (-3, 0.7), (25, 1.6)]]
valid = [resort_data(300, s, c) for s, c in [(0, 1.0), (10, 1.3), (-3, 0.7), (25, 1.6)]]
mu = np.concatenate([y for _, y in shards]).mean()
sd = np.concatenate([y for _, y in shards]).std()
shards = [(X, (y - mu) / sd + rng.normal(0, NOISE, len(y)).astype(np.float32)) for X, y in shards]
valid = [(X, (y - mu) / sd + rng.normal(0, NOISE, len(y)).astype(np.float32)) for X, y in valid]
Xv = mx.array(np.concatenate([X for X, _ in valid]))
yv = mx.array(np.concatenate([y for _, y in valid]))


class QueueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, X, y):
    return ((model(X) - y) ** 2).mean()


def rmse(model):
    return math.sqrt(mse(model, Xv, yv).item())


ROUNDS = 24
INNER = 20
BATCH = 64
INNER_LR = 3e-3
WARM = 30  # inner warm-up steps, counted over the whole run


def inner_lr(t):
    return INNER_LR * min(t, WARM) / WARM  # t = 0 gives lr exactly 0


global_model = QueueNet()
mx.eval(global_model.parameters())
workers = [QueueNet() for _ in shards]
inner_opts = [optim.AdamW(learning_rate=0.0, weight_decay=1e-4) for _ in shards]
outer_opt = optim.SGD(learning_rate=0.7, momentum=0.9, nesterov=True)
grad_fns = [nn.value_and_grad(w, mse) for w in workers]

print(f"resorts={len(shards)} rows/resort={len(shards[0][1])} valid={yv.size} "
      f"params={sum(v.size for _, v in tree_flatten(global_model.parameters()))}")
print(f"baselines: predict-zero valid rmse {math.sqrt(float((yv ** 2).mean())):.3f}  noise floor {NOISE:.3f}")
print(f"round 0  valid rmse {rmse(global_model):.3f}")

ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
inner_t = 0
rnd = 0
while rnd < ROUNDS:
    rnd += 1
    start = [mse(global_model, mx.array(X), mx.array(y)).item() for X, y in shards]
    g_params = global_model.parameters()
    ends = []
    for w, o, gf, (X, y) in zip(workers, inner_opts, grad_fns, shards):
        w.update(tree_map(lambda p: mx.array(p), g_params))
        for k in range(INNER):
            o.learning_rate = inner_lr(inner_t + k)
            idx = rng.integers(0, len(y), BATCH)
            loss, grads = gf(w, mx.array(X[idx]), mx.array(y[idx]))
            o.update(w, grads)
            mx.eval(w.parameters(), o.state)
        ends.append(mse(w, mx.array(X), mx.array(y)).item())
    inner_t += INNER
    avg = tree_map(lambda *ps: sum(ps) / len(ps), *[w.parameters() for w in workers])
    pseudo_grad = tree_map(lambda g, a: g - a, g_params, avg)
    outer_opt.update(global_model, pseudo_grad)
    mx.eval(global_model.parameters(), outer_opt.state)
    print(f"round {rnd:2d}  inner lr {inner_lr(inner_t - 1):.1e}  resort mse start {np.mean(start):.3f} "
          f"-> local end {np.mean(ends):.3f}  shared valid rmse {rmse(global_model):.3f}")

    if rnd == ROUNDS // 2:
        path = os.path.join(ckpt_dir, "shared.safetensors")
        global_model.save_weights(path)
        mx.save_safetensors(os.path.join(ckpt_dir, "outer.safetensors"),
                            dict(tree_flatten(outer_opt.state)))
        before = rmse(global_model)
        # resume into fresh objects, as after a restart
        global_model = QueueNet()
        global_model.load_weights(path)
        outer_opt = optim.SGD(learning_rate=0.7, momentum=0.9, nesterov=True)
        outer_opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "outer.safetensors")).items()))
        mx.eval(global_model.parameters(), outer_opt.state)
        print(f"checkpoint at round {rnd} reloaded: valid rmse {before:.3f} -> {rmse(global_model):.3f}")

print(f"final shared valid rmse {rmse(global_model):.3f}  (noise floor {NOISE:.3f}, "
      f"predict-zero {math.sqrt(float((yv ** 2).mean())):.3f})")
for i, (X, y) in enumerate(valid):
    r = math.sqrt(mse(global_model, mx.array(X), mx.array(y)).item())
    print(f"  resort {i}: valid rmse {r:.3f}")
print(f"done in {time.time() - t0:.1f}s")
