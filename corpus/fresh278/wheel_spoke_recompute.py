"""Observation wheel operations: 3-way ride decision (run / slow / hold) from 9
readings logged each minute (anemometer gusts at hub and rim, rain, load, ...).

Written without nn.Module: the network is a plain dict of arrays.  Each
residual block is evaluated through mx.checkpoint with the block's own weights
passed in as arguments, so its activations are recomputed in the backward pass
instead of being kept.  One update uses three micro-batches of unequal size;
their summed losses are divided by the total row count.  The learning rate
follows cosine cycles with warm restarts, so the loss jumps up a little at
each restart.  Logging happens only at the end of each cycle.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 5
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

N_TRAIN, N_VALID = 6000, 1000
FLIP = 0.06  # share of log entries where the operator's call was random


def make_rows(n):
    gust_hub = rng.gamma(2.0, 4.0, n)            # m/s
    gust_rim = gust_hub * rng.uniform(1.0, 1.5, n)
    mean_wind = gust_hub * rng.uniform(0.4, 0.8, n)
    rain = rng.exponential(0.8, n)               # mm/h
    load = rng.uniform(0, 1, n)                  # share of cabins occupied
    temp = rng.normal(12, 7, n)                  # deg C
    lightning_km = rng.uniform(2, 60, n)
    dusk = rng.integers(0, 2, n).astype(np.float64)
    vib = 0.05 * gust_rim + rng.normal(0, 0.2, n)
    score = (0.32 * gust_rim + 0.15 * mean_wind + 0.5 * np.log1p(rain)
             - 1.2 * load * (gust_rim > 12) + 1.8 * (lightning_km < 10)
             + 0.03 * np.maximum(0, -temp) + 0.4 * vib)
    y = np.where(score < 5.5, 0, np.where(score < 8.0, 1, 2))
    flip = rng.random(n) < FLIP
    y[flip] = rng.integers(0, 3, flip.sum())
    x = np.stack([gust_hub, gust_rim, mean_wind, rain, load, temp,
                  lightning_km, dusk, vib], axis=1)
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = make_rows(N_TRAIN)
x_va, y_va = make_rows(N_VALID)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd

D_IN, D, N_BLOCKS, N_CLS = 9, 32, 3, 3


def init_params():
    def dense(i, o, scale=1.0):
        return {"w": mx.random.normal((i, o)) * (scale / np.sqrt(i)),
                "b": mx.zeros((o,))}
    return {
        "stem": dense(D_IN, D),
        "blocks": [{"ln_g": mx.ones((D,)), "ln_b": mx.zeros((D,)),
                    "fc1": dense(D, 2 * D), "fc2": dense(2 * D, D, 0.5)}
                   for _ in range(N_BLOCKS)],
        "head": dense(D, N_CLS),
    }


def block_fn(p, h):
    z = mx.fast.layer_norm(h, p["ln_g"], p["ln_b"], 1e-5)
    z = z @ p["fc1"]["w"] + p["fc1"]["b"]
    z = z * mx.sigmoid(1.702 * z)
    return h + z @ p["fc2"]["w"] + p["fc2"]["b"]


block_ckpt = mx.checkpoint(block_fn)


def forward(params, x):
    h = x @ params["stem"]["w"] + params["stem"]["b"]
    for p in params["blocks"]:
        h = block_ckpt(p, h)
    return h @ params["head"]["w"] + params["head"]["b"]


def summed_ce(params, x, y):
    logits = forward(params, x)
    return (mx.logsumexp(logits, axis=-1)
            - mx.take_along_axis(logits, y[:, None], axis=-1).squeeze(-1)).sum()


grad_fn = mx.value_and_grad(summed_ce)

CYCLES = [60, 60, 120]          # updates per cosine cycle (warm restarts)
PEAK, FLOOR = 4e-3, 5e-5
MICRO = [48, 48, 32]              # unequal micro-batches per update


def lr_schedule():
    out = []
    for length in CYCLES:
        for i in range(length):
            out.append(FLOOR + 0.5 * (PEAK - FLOOR) * (1 + np.cos(np.pi * i / length)))
    return out


def accuracy(params, x, y):
    pred = np.array(mx.argmax(forward(params, mx.array(x)), axis=-1))
    return float((pred == y).mean())


params = init_params()
opt = optim.AdamW(learning_rate=PEAK, weight_decay=0.01)
lrs = lr_schedule()
majority = float(np.mean(y_va == np.bincount(y_tr).argmax()))
ceiling = 1 - FLIP * 2 / 3
n_params = sum(v.size for _, v in tree_flatten(params))
print(f"params {n_params}  blocks {N_BLOCKS} (recomputed in backward)  micro-batches {MICRO}")
print(f"valid majority-class accuracy {majority:.3f}; label-noise ceiling about {ceiling:.3f}")

t0 = time.time()
order, pos = rng.permutation(N_TRAIN), 0
step, cycle_end = 0, np.cumsum(CYCLES)
cycle_peek = set(int(c) + 5 for c in cycle_end[:-1])
window = []
for step, lr in enumerate(lrs):
    opt.learning_rate = lr
    acc_g, acc_loss, rows = None, 0.0, 0
    for mb in MICRO:
        if pos + mb > N_TRAIN:
            order, pos = rng.permutation(N_TRAIN), 0
        idx = order[pos:pos + mb]
        pos += mb
        loss, g = grad_fn(params, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
        acc_loss += loss
        rows += mb
    acc_g = tree_map(lambda a: a / rows, acc_g)
    params = opt.apply_gradients(acc_g, params)
    mx.eval(params, opt.state, acc_loss)
    window.append(acc_loss.item() / rows)
    if step + 1 in cycle_end or step + 1 in cycle_peek or step < 2:
        print(f"update {step + 1:4d}  lr {lr:.2e}  train ce (last {len(window)}) "
              f"{np.mean(window):.4f}  valid acc {accuracy(params, x_va, y_va):.3f}")
        window = []

print(f"final valid acc {accuracy(params, x_va, y_va):.3f}  (majority {majority:.3f}, "
      f"ceiling ~{ceiling:.3f})  elapsed {time.time() - t0:.1f} s")
