"""Darkroom log: predict how a developed roll of film came out.

Classes: 0 good, 1 thin (under-developed), 2 dense (over-developed), 3 fogged.
Features (synthetic process sheet): developer temp (C), dev time (min), agitation
inversions per minute, dilution factor, log2 ISO, developer age (days), fixer
throughput (rolls).

Loss is a hand-written focal loss with per-class alpha.  gamma is annealed from
3 down to 0 in stages, so by the last stage the objective is plain weighted CE.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2207)
N_TRAIN, N_VAL = 9000, 2000


def make_rolls(n):
    temp = rng.normal(20.0, 1.6, n)
    tmin = rng.uniform(6.0, 12.0, n)
    agit = rng.uniform(2.0, 8.0, n)
    dil = rng.choice([1.0, 2.0, 3.0], n)
    iso = rng.choice([6.64, 7.64, 8.64], n)  # log2 of 100/200/400
    age = rng.exponential(14.0, n)
    fixer = rng.uniform(0, 25, n)
    # effective development: more temp/time/agitation -> denser, dilution/age -> thinner
    dev = (0.22 * (temp - 20) + 0.30 * (tmin - 9) + 0.12 * (agit - 5)
           - 0.45 * (dil - 2) - 0.35 * (iso - 7.64) - 0.035 * (age - 14)
           + rng.normal(0, 0.35, n))
    fog_score = 0.09 * (fixer - 12) + 0.05 * (age - 14) + 0.35 * (temp - 20) + rng.normal(0, 0.6, n)
    y = np.zeros(n, dtype=np.int32)
    y[dev < -0.75] = 1
    y[dev > 0.85] = 2
    y[fog_score > 1.55] = 3
    X = np.stack([temp, tmin, agit, dil, iso, age, fixer], 1).astype(np.float32)
    return X, y


Xtr, ytr = make_rolls(N_TRAIN)
Xva, yva = make_rolls(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
counts = np.bincount(ytr, minlength=4)
prior = counts / counts.sum()
alpha = (1.0 / np.sqrt(prior))
alpha = alpha / alpha.mean()

Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
alpha_m = mx.array(alpha.astype(np.float32))


class RollNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 4)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def focal_loss(logits, y, gamma):
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_t = mx.take_along_axis(logp, y[:, None], axis=-1).squeeze(-1)
    p_t = mx.exp(logp_t)
    w = alpha_m[y]
    return mx.mean(-w * (1.0 - p_t) ** gamma * logp_t)


def plain_ce(logits, y):
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return -mx.mean(mx.take_along_axis(logp, y[:, None], axis=-1))


model = RollNet()
mx.eval(model.parameters())

BATCH = 256
steps_per_epoch = N_TRAIN // BATCH
STAGES = [(3.0, 6), (2.0, 5), (1.0, 5), (0.0, 6)]  # (gamma, epochs)
total_steps = steps_per_epoch * sum(e for _, e in STAGES)
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 2e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, xb, yb, gamma):
    return focal_loss(m(xb), yb, gamma)


grad_fn = nn.value_and_grad(model, loss_fn)

# check that every parameter receives gradient
_, g0 = grad_fn(model, Xtr_m[:BATCH], ytr_m[:BATCH], 3.0)
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "n_params": len(tree_flatten(g0)), "zero_grad": zero}))

prior_ce = float(-np.sum(prior * np.log(prior)))
t0 = time.time()
step = 0
epoch_global = 0
for stage_idx, (gamma, n_ep) in enumerate(STAGES):
    for ep in range(n_ep):
        perm = mx.array(rng.permutation(N_TRAIN))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = grad_fn(model, Xtr_m[idx], ytr_m[idx], gamma)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        epoch_global += 1
        logits = model(Xva_m)
        pred = np.array(mx.argmax(logits, axis=-1))
        rec = [float((pred[yva == c] == c).mean()) if (yva == c).any() else float("nan") for c in range(4)]
        rec_row = {n: round(100 * r, 1) for n, r in zip(["good", "thin", "dense", "fog"], rec)}
        print(json.dumps({
            "stage": stage_idx + 1, "epoch": ep + 1, "gamma": gamma,
            "focal_train": round(run / steps_per_epoch, 4),
            "val_focal": round(float(focal_loss(logits, yva_m, gamma)), 4),
            "val_ce": round(float(plain_ce(logits, yva_m)), 4), "prior_ce": round(prior_ce, 4),
            "macro_recall_pct": round(100 * float(np.mean(rec)), 1), "recall": rec_row,
            "lr": float(f"{opt.learning_rate.item():.3g}"),
        }))
print(json.dumps({"event": "done", "steps": step, "seconds": round(time.time() - t0, 1),
                  "val_acc_pct": round(100 * float((pred == yva).mean()), 1),
                  "majority_acc_pct": round(100 * float((yva == np.argmax(counts)).mean()), 1)}))
