"""Kite festival judging: learn a reward score for kite flights from the
judges' head-to-head verdicts (Bradley-Terry), easy pairs first, then the
full pool with near-ties scored as half a win."""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2291)
random.seed(2291)
mx.random.seed(2291)

N_FLIGHTS = 900
# line angle (deg), steadiness (0-1), altitude (m), trick count, wind (m/s),
# tail length (m), bridle offset (cm)
raw = np.stack([
    rng.uniform(25, 75, N_FLIGHTS),
    rng.beta(4, 2, N_FLIGHTS),
    rng.gamma(4.0, 12.0, N_FLIGHTS),
    rng.poisson(3.0, N_FLIGHTS).astype(np.float64),
    rng.uniform(2, 14, N_FLIGHTS),
    rng.uniform(0.5, 6.0, N_FLIGHTS),
    rng.normal(0, 2.5, N_FLIGHTS),
], axis=1)


def hidden_quality(r):
    angle, steady, alt, tricks, wind, tail, bridle = r.T
    q = (1.6 * steady
         + 0.9 * np.tanh((angle - 50) / 15)
         + 0.5 * np.log1p(alt / 20)
         + 0.35 * np.sqrt(tricks) * (wind > 5)
         - 0.25 * np.abs(bridle)
         - 0.12 * (tail - 3.0) ** 2 / 3.0)
    return q


quality = hidden_quality(raw)
feats = (raw - raw.mean(0)) / raw.std(0)
train_ids = np.arange(0, 720)
val_ids = np.arange(720, N_FLIGHTS)


def make_pairs(ids, n):
    a = rng.choice(ids, n)
    b = rng.choice(ids, n)
    keep = a != b
    a, b = a[keep], b[keep]
    gap = quality[a] - quality[b]
    p_a = 1.0 / (1.0 + np.exp(-3.0 * gap))
    verdict = (rng.uniform(size=len(a)) < p_a).astype(np.float32)
    tie = np.abs(gap) < 0.08
    verdict[tie] = 0.5  # judges call it a draw
    return a, b, verdict, gap


tr_a, tr_b, tr_y, tr_gap = make_pairs(train_ids, 14000)
va_a, va_b, va_y, va_gap = make_pairs(val_ids, 3000)
va_decided = np.abs(va_gap) >= 0.08

# what the old paper score sheet would say: altitude + steadiness points
rulebook = raw[:, 2] / 10.0 + 4.0 * raw[:, 1]


class FlightScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1, bias=False)  # a bias cancels in s_a - s_b

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


model = FlightScorer()
X = mx.array(feats.astype(np.float32))


def bt_loss(model, ia, ib, y):
    s_a = model(X[ia])
    s_b = model(X[ib])
    margin = s_a - s_b
    # soft-target logistic loss: draws (y=0.5) can never go below ln 2
    return mx.mean(nn.losses.binary_cross_entropy(margin, y, with_logits=True))


loss_and_grad = nn.value_and_grad(model, bt_loss)


def agreement(scores, a, b, gap, mask):
    pred = scores[a] > scores[b]
    truth = gap > 0
    return float(np.mean((pred == truth)[mask]))


rule_agree = agreement(rulebook, va_a, va_b, va_gap, va_decided)

stages = [
    ("clear_calls", np.abs(tr_gap) > 0.6, 260, 3e-3),
    ("full_pool", np.ones_like(tr_gap, dtype=bool), 420, 1.5e-3),
]
BATCH = 256

# check once that every weight gets a gradient from the pair loss
_, g0 = loss_and_grad(model, mx.array(tr_a[:64]), mx.array(tr_b[:64]),
                      mx.array(tr_y[:64]))
for name, g in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(g0):
    assert float(mx.abs(g).sum()) > 0, name

for stage_name, mask, iters, peak in stages:
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, iters - warm, peak * 0.05)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    pool = np.nonzero(mask)[0]
    for it in range(iters):
        pick = rng.choice(pool, BATCH)
        ia, ib, y = mx.array(tr_a[pick]), mx.array(tr_b[pick]), mx.array(tr_y[pick])
        loss, grads = loss_and_grad(model, ia, ib, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr_now = float(opt.learning_rate)  # the rate this update used
        if it % 20 == 0 or it == iters - 1:
            scores = np.array(model(X))
            vloss = bt_loss(model, mx.array(va_a), mx.array(va_b), mx.array(va_y))
            rec = {
                "stage": stage_name,
                "it": it,
                "lr": round(lr_now, 6),
                "bt_nll": round(float(loss), 4),
                "val_nll": round(float(vloss), 4),
                "agree": round(agreement(scores, va_a, va_b, va_gap, va_decided), 4),
                "rulebook_agree": round(rule_agree, 4),
                "pairs_in_pool": int(len(pool)),
            }
            print(json.dumps(rec), flush=True)

scores = np.array(model(X))
rho = np.corrcoef(scores[val_ids], quality[val_ids])[0, 1]
print(json.dumps({"final": True,
                  "agree": round(agreement(scores, va_a, va_b, va_gap, va_decided), 4),
                  "rulebook_agree": round(rule_agree, 4),
                  "pearson_vs_hidden": round(float(rho), 4)}))
