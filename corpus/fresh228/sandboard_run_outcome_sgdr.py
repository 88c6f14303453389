# Sandboarding school: classify how a board run down a dune face ends (clean run / bogged down /
# wipeout / blown off line) from synthetic run-sheet readings. Cosine warm restarts (each cycle starts at lr 0),
# compiled train step, JSON-lines log with a majority-class reference.
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten

rng = np.random.default_rng(2031)
GRADES = ["clean_run", "bogged", "wipeout", "blown_off_line"]


def make_runs(n):
    slope_deg = rng.normal(28, 4, n)           # face angle of the dune
    moist_pct = rng.exponential(1.5, n)        # surface sand moisture
    grain_mm = rng.lognormal(np.log(0.3), 0.3, n)   # median grain size
    wax_coats = rng.integers(0, 5, n)          # paraffin coats on the base
    rider_kg = rng.normal(72, 12, n)
    gust_ms = rng.gamma(2, 2.5, n)             # crosswind gusts
    glide = (0.12 * (slope_deg - 28) - 0.9 * moist_pct + 0.35 * wax_coats - 2.0 * (grain_mm - 0.3)
             + 0.01 * (rider_kg - 72) + rng.normal(0, 0.4, n))
    y = np.where(glide < -1.2, 1, 0)                                      # bogged down
    y = np.where(glide > 1.6, 2, y)                                       # too fast -> wipeout
    y = np.where((gust_ms > 8) & (rng.uniform(0, 1, n) < 0.8), 3, y)      # blown off line
    x = np.stack([(slope_deg - 28) / 4, np.log1p(moist_pct), np.log(grain_mm / 0.3), wax_coats / 2,
                  (rider_kg - 72) / 12, gust_ms / 5], 1)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


x_tr, y_tr = make_runs(3000)
x_va, y_va = make_runs(800)
mu, sd = mx.mean(x_tr, 0), mx.std(x_tr, 0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
counts = np.bincount(np.array(y_va), minlength=4)
majority_acc = counts.max() / counts.sum()


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.head(h)


model = Grader()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-3)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every parameter receives gradient
_, g0 = grad_fn(model, x_tr[:256], y_tr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"audit": "grad_nonzero", "n_params": len(tree_flatten(g0)), "zero_grad": zero}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = grad_fn(model, xb, yb)
    opt.update(model, grads)
    return loss


PEAK = 4e-3
cycles = [90, 180, 360]
t0 = time.time()
bs = 128
for c, length in enumerate(cycles):
    for it in range(length):
        opt.learning_rate = mx.array(PEAK * it / 10 if it < 10
                                     else PEAK * 0.5 * (1 + math.cos(math.pi * (it - 10) / (length - 10))))
        idx = mx.array(rng.integers(0, x_tr.shape[0], bs))
        loss = train_step(x_tr[idx], y_tr[idx])
        mx.eval(state, loss)
        if it % 30 == 0 or it == length - 1:
            logits = model(x_va)
            va_loss = nn.losses.cross_entropy(logits, y_va, reduction="mean")
            acc = mx.mean(mx.argmax(logits, -1) == y_va)
            print(json.dumps({"cycle": c, "it": it, "lr": round(float(opt.learning_rate), 6),
                              "xent": round(float(loss), 4), "val_xent": round(float(va_loss), 4),
                              "val_acc": round(float(acc), 4), "ref_majority_acc": round(float(majority_acc), 4)}))

logits = model(x_va)
pred = np.array(mx.argmax(logits, -1))
per_class = {GRADES[k]: round(float((pred[np.array(y_va) == k] == k).mean()), 3) for k in range(4)}
print(json.dumps({"final": True, "val_acc": round(float((pred == np.array(y_va)).mean()), 4),
                  "per_class_recall": per_class, "secs": round(time.time() - t0, 2)}))
