"""Player-piano archive: match each pianola roll's perforation layout to the
expression trace (pedal / tempo lever) recorded when it was played, with a
two-tower CLIP-style model.  Stage A uses easy batches (rolls by different
arrangers); stage B packs each batch with sibling rolls of only two arrangers,
so the in-batch negatives get harder and the contrastive loss goes back up
before it settles again."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(216)
mx.random.seed(216)
LAT, PERF, EXPR = 6, 24, 30
N_ARR, PER_ARR = 12, 10

W_perf = rng.normal(size=(LAT, PERF)) / math.sqrt(LAT)
W_expr = rng.normal(size=(LAT, EXPR)) / math.sqrt(LAT)
phase = np.linspace(0, 2 * math.pi, EXPR)


def make_rolls(n_arr, per_arr, spread=0.35):
    arrangers = rng.normal(size=(n_arr, LAT))
    z = arrangers[:, None, :] + spread * rng.normal(size=(n_arr, per_arr, LAT))
    arr = np.repeat(np.arange(n_arr), per_arr)
    return z.reshape(-1, LAT), arr


def observe(z):
    perforation = np.tanh(z @ W_perf) + 0.15 * rng.normal(size=(len(z), PERF))
    expression = np.sin(z @ W_expr + phase) * (1 + 0.1 * z[:, :1]) + 0.15 * rng.normal(size=(len(z), EXPR))
    return perforation.astype(np.float32), expression.astype(np.float32)


z_train, arr_train = make_rolls(N_ARR, PER_ARR)
z_held, _ = make_rolls(6, 10)
held_perf, held_expr = observe(z_held)
held_perf, held_expr = mx.array(held_perf), mx.array(held_expr)


class Tower(nn.Module):
    def __init__(self, d_in, d_out=16):
        super().__init__()
        self.l1 = nn.Linear(d_in, 64)
        self.l2 = nn.Linear(64, d_out)

    def __call__(self, x):
        h = self.l2(nn.gelu(self.l1(x)))
        return h / mx.sqrt(mx.sum(h * h, axis=-1, keepdims=True) + 1e-8)


class RollCLIP(nn.Module):
    def __init__(self):
        super().__init__()
        self.perf = Tower(PERF)
        self.expr = Tower(EXPR)
        self.logit_scale = mx.array(math.log(1 / 0.2))

    def __call__(self, p, t):
        scale = mx.exp(mx.minimum(self.logit_scale, math.log(50.0)))
        return scale * (self.perf(p) @ self.expr(t).T)


def clip_loss(model, p, t):
    logits = model(p, t)
    labels = mx.arange(logits.shape[0])
    a = nn.losses.cross_entropy(logits, labels, reduction="mean")
    b = nn.losses.cross_entropy(logits.T, labels, reduction="mean")
    return 0.5 * (a + b)


def retrieval(model):
    sims = model.perf(held_perf) @ model.expr(held_expr).T
    order = mx.argsort(-sims, axis=1)
    ranks = mx.argmax(order == mx.arange(sims.shape[0])[:, None], axis=1) + 1
    mx.eval(ranks)
    r = np.array(ranks)
    return 100.0 * float(np.mean(r == 1)), float(np.median(r))


def easy_batch(bs=16):
    # one roll from each arranger, plus random extras
    picks = [rng.choice(np.where(arr_train == f)[0]) for f in range(N_ARR)]
    picks += list(rng.choice(len(z_train), size=bs - N_ARR, replace=False))
    return np.array(picks)


def hard_batch(bs=16):
    arrs = rng.choice(N_ARR, size=2, replace=False)
    pool = np.where(np.isin(arr_train, arrs))[0]
    return rng.choice(pool, size=bs, replace=False)


model = RollCLIP()
mx.eval(model.parameters())
WARM, TOTAL = 40, 360
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)],
    [WARM],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
step_fn = nn.value_and_grad(model, clip_loss)

# check every trainable leaf gets a gradient on a first batch
idx0 = easy_batch()
p0, t0 = observe(z_train[idx0])
_, g0 = step_fn(model, mx.array(p0), mx.array(t0))
zero = [k for k, v in tree_flatten(g0) if float(mx.max(mx.abs(v))) == 0.0]
print(json.dumps({"event": "grad_audit", "leaves": len(tree_flatten(g0)), "zero_grad": zero}))

chance = 100.0 / held_perf.shape[0]
r1, med = retrieval(model)
print(json.dumps({"event": "before", "R@1_%": round(r1, 1), "chance_%": round(chance, 1), "median_rank": med}))

t_start = time.time()
window = []
for step in range(TOTAL):
    stage = "A_easy" if step < 180 else "B_siblings"
    idx = easy_batch() if stage == "A_easy" else hard_batch()
    p, t = observe(z_train[idx])
    lr_now = float(sched(opt.step))
    loss, grads = step_fn(model, mx.array(p), mx.array(t))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(float(loss))
    if step == 180:
        print(json.dumps({"event": "stage", "name": "B_siblings", "note": "batches now hold 2 arrangers only"}))
    if (step + 1) % 30 == 0:
        r1, med = retrieval(model)
        tau = 1.0 / math.exp(min(float(model.logit_scale), math.log(50.0)))
        print(json.dumps({
            "stage": stage, "step": step + 1, "lr": round(lr_now, 6),
            "nce": round(sum(window) / len(window), 4), "nce_uniform": round(math.log(16), 4),
            "tau": round(tau, 4), "R@1_%": round(r1, 1), "chance_%": round(chance, 1),
            "median_rank": med,
        }))
        window = []

r1, med = retrieval(model)
print(json.dumps({"event": "done", "R@1_%": round(r1, 1), "median_rank": med,
                  "secs": round(time.time() - t_start, 2)}))
