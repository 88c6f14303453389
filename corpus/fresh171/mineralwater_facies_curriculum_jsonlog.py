"""Mineral-water bottling QA: hydrochemical facies of a spring source
(Ca-HCO3 / Na-Cl / Ca-SO4 / Na-HCO3, as read off a Piper diagram) from 7
synthetic lab readings of a bottle.

Two-stage curriculum: stage "clean" trains on reference bottles with tight
chemistry; stage "production" switches to noisy routine production samples (wider spread and
some mislabeled bottles), keeps the first layer frozen on purpose and restarts
the step counter with a fresh RMSprop at a lower rate.  Compiled train step.
Progress goes out through `logging` as JSON.
"""
import json
import logging
import sys
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
log = logging.getLogger("bottling.qa")

mx.random.seed(1711)
K = 4
NAMES = ["Ca_HCO3", "Na_Cl", "Ca_SO4", "Na_HCO3"]
# columns: pH, Ca, Na, log_EC, SO4, Cl, HCO3 (all standardised units)
CENTERS = mx.array([
    [-1.6, 0.6, 0.2, 1.5, -0.8, -1.2, 0.3],
    [0.4, 1.2, 1.1, -0.5, 1.6, -0.3, 0.9],
    [0.9, -0.8, -0.2, -0.6, -0.7, 1.5, -0.6],
    [0.2, 0.3, 0.4, 0.4, 0.5, 0.3, 1.6],
])


def bottles(n, spread, flip, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    lab = mx.random.randint(0, K, (n,), key=k1)
    x = CENTERS[lab] + spread * mx.random.normal((n, 7), key=k2)
    wrong = mx.random.uniform(shape=(n,), key=k3) < flip
    noisy = mx.where(wrong, mx.random.randint(0, K, (n,), key=k4), lab)
    return x, noisy, lab


Xc, yc, _ = bottles(2000, 0.45, 0.0, mx.random.key(1))
Xf, yf, _ = bottles(4000, 1.05, 0.08, mx.random.key(2))
Xv, _, yv_true = bottles(1500, 1.05, 0.0, mx.random.key(3))   # clean labels for scoring


class FaciesNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inlet = nn.Linear(7, 48)
        self.mix = nn.Linear(48, 48)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(48, K)

    def __call__(self, x):
        h = nn.relu(self.inlet(x))
        h = self.drop(nn.relu(self.mix(h)))
        return self.head(h)


def xent(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


def macro_f1(pred, truth):
    f1s = []
    for c in range(K):
        tp = ((pred == c) & (truth == c)).sum().item()
        fp = ((pred == c) & (truth != c)).sum().item()
        fn = ((pred != c) & (truth == c)).sum().item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / K


def evaluate(m):
    m.eval()
    pred = mx.argmax(m(Xv), axis=1)
    val = xent(m, Xv, yv_true).item()
    m.train()
    return val, 100.0 * (pred == yv_true).mean().item(), 100.0 * macro_f1(pred, yv_true)


def run_stage(name, m, X, Y, steps, lr, batch, every):
    opt = optim.RMSprop(learning_rate=lr, alpha=0.95)
    vg = nn.value_and_grad(m, xent)
    state = [m.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = vg(m, xb, yb)
        opt.update(m, g)
        return loss

    # audit: which tensors this stage trains and that each one gets a gradient
    _, g = vg(m, X[:256], Y[:256])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if mx.abs(v).sum().item() == 0.0]
    n_frozen = len(tree_flatten(m.parameters())) - len(flat)
    log.info(json.dumps({"event": "stage_start", "stage": name, "trainable": [k for k, _ in flat],
                         "frozen_tensors": n_frozen, "zero_grad": zero, "lr": lr}))
    n = X.shape[0]
    running = 0.0
    for s in range(1, steps + 1):
        idx = mx.random.randint(0, n, (batch,))
        loss = step(X[idx], Y[idx])
        mx.eval(state, loss)
        running += loss.item()
        if s % every == 0:
            vloss, acc, f1 = evaluate(m)
            log.info(json.dumps({"stage": name, "step": s, "train_xent": round(running / every, 4),
                                 "val_xent": round(vloss, 4), "acc_pct": round(acc, 2),
                                 "macro_f1_pct": round(f1, 2)}))
            running = 0.0


model = FaciesNet()
mx.eval(model.parameters())
v0 = evaluate(model)
log.info(json.dumps({"event": "untrained", "val_xent": round(v0[0], 4), "acc_pct": round(v0[1], 2),
                     "chance_pct": 25.0}))

run_stage("clean", model, Xc, yc, steps=400, lr=2e-3, batch=64, every=50)

model.inlet.freeze()            # keep the learned ion-ratio detectors of the first layer
run_stage("production", model, Xf, yf, steps=600, lr=5e-4, batch=64, every=75)

vloss, acc, f1 = evaluate(model)
log.info(json.dumps({"event": "done", "val_xent": round(vloss, 4), "acc_pct": round(acc, 2),
                     "macro_f1_pct": round(f1, 2), "classes": NAMES}))
