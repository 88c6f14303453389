"""Cloud-physics lab: learn snow-crystal habit embeddings without labels.

Each crystal is a 36-bin polar outline (arm radius vs angle) from a
microscope photo.  Stage "pretrain": SimCLR-style InfoNCE on two augmented
views (random rotation, radius scale, pixel jitter, dropped bins), compiled
step, SGD+Nesterov.  Stage "probe": the encoder is frozen on purpose and a
linear probe is fit on the 5 habit labels (plate, column, dendrite, needle,
sectored).  A probe on a random (untrained) encoder is the reference.
Output: one JSON object per line.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, HABITS = 36, ["plate", "column", "dendrite", "needle", "sectored"]
rng = np.random.default_rng(5)
theta = np.linspace(0, 2 * np.pi, D, endpoint=False)


def outline(h, n):
    ph = rng.uniform(0, 2 * np.pi, (n, 1))
    a = theta[None, :] + ph
    if h == 0:   # hexagonal plate
        r = 1.0 + 0.08 * np.cos(6 * a)
    elif h == 1:  # column: elongated, 2-fold
        r = 0.6 + 0.5 * np.abs(np.cos(a)) ** 3
    elif h == 2:  # dendrite: sharp 6 arms
        r = 0.35 + 0.9 * np.maximum(np.cos(6 * a / 2) ** 2, 0) ** 6
    elif h == 3:  # needle: very thin 2-fold
        r = 0.2 + 1.1 * np.abs(np.cos(a)) ** 12
    else:         # sectored plate: 6-fold, mid notches
        r = 0.8 + 0.25 * np.cos(6 * a) - 0.12 * np.cos(12 * a)
    for k in (2, 3, 4, 5):  # each crystal's own growth irregularities
        r = r + rng.normal(0, 0.07, (n, 1)) * np.cos(k * a + rng.uniform(0, 6.3, (n, 1)))
    size = rng.lognormal(0, 0.25, (n, 1))
    return (np.maximum(r, 0.05) * size + rng.normal(0, 0.08, (n, D))).astype(np.float32)


def make(nper):
    xs, ys = [], []
    for h in range(5):
        xs.append(outline(h, nper)); ys.append(np.full(nper, h))
    return np.concatenate(xs), np.concatenate(ys)


Xu, Yu = make(600)    # unlabeled pool (labels kept only for the audit)
Xl, Yl = make(12)     # small labelled set for the probe
Xt, Yt = make(120)    # test


def augment(x):
    n = x.shape[0]
    sh = rng.integers(-2, 3, n)  # small camera rotation
    idx = (np.arange(D)[None, :] + sh[:, None]) % D
    v = np.take_along_axis(x, idx, 1)
    v = v * rng.lognormal(0, 0.2, (n, 1)) + rng.normal(0, 0.03, v.shape)
    v = np.maximum(v * (rng.uniform(0, 1, v.shape) > 0.05), 0.0)
    return v.astype(np.float32)


def prep(x):  # log radius, per-crystal centered (scale-free)
    lx = np.log(np.maximum(x, 1e-2))
    return lx - lx.mean(1, keepdims=True)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 96), nn.ReLU(), nn.Linear(96, 64), nn.ReLU(),
                                  nn.Linear(64, 32))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(32, 32))

    def embed(self, x):
        return self.body(x)

    def __call__(self, x):
        z = self.head(self.embed(x))
        return z / mx.sqrt(mx.sum(z * z, -1, keepdims=True) + 1e-8)


def info_nce(model, a, b, tau=0.1):
    za, zb = model(a), model(b)
    logits = za @ zb.T / tau
    lbl = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, lbl, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, lbl, reduction="mean"))


def probe_acc(enc, epochs=60):
    enc.freeze()
    fl = enc.embed(mx.array(prep(Xl)))
    ft = enc.embed(mx.array(prep(Xt)))
    mu, sd = mx.mean(fl, 0), mx.std(fl, 0) + 1e-5
    fl, ft = (fl - mu) / sd, (ft - mu) / sd
    probe = nn.Linear(32, 5)
    popt = optim.Adam(learning_rate=3e-2)
    yl = mx.array(Yl)

    def ce(p, x, y):
        return nn.losses.cross_entropy(p(x), y, reduction="mean")

    pg = nn.value_and_grad(probe, ce)
    for _ in range(epochs):
        l, g = pg(probe, fl, yl)
        popt.update(probe, g)
        mx.eval(probe.parameters(), popt.state, l)
    acc = float(mx.mean(mx.argmax(probe(ft), -1) == mx.array(Yt)).item()) * 100
    return acc, l.item()


mx.random.seed(3)
ref_acc, ref_loss = probe_acc(Encoder())
print(json.dumps({"stage": "reference", "encoder": "random-frozen", "probe_test_acc_pct": round(ref_acc, 1),
                  "probe_ce": round(ref_loss, 4)}))

model = Encoder()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.3, momentum=0.9, nesterov=True, weight_decay=1e-4)
vg = nn.value_and_grad(model, info_nce)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b):
    loss, g = vg(model, a, b)
    g, gn = optim.clip_grad_norm(g, 5.0)
    opt.update(model, g)
    return loss, gn


B, t0 = 256, time.time()
n = Xu.shape[0]
for ep in range(1, 31):
    perm = rng.permutation(n)
    losses, norms = [], []
    for i in range(0, n - B + 1, B):
        xb = Xu[perm[i:i + B]]
        a, b = mx.array(prep(augment(xb))), mx.array(prep(augment(xb)))
        loss, gn = step(a, b)
        mx.eval(state, loss, gn)
        losses.append(loss.item()); norms.append(gn.item())
    # top-1 view retrieval on a fixed audit batch: does view A find its own view B?
    xa = Xu[:256]
    za, zb = model(mx.array(prep(augment(xa)))), model(mx.array(prep(augment(xa))))
    hit = float(mx.mean(mx.argmax(za @ zb.T, -1) == mx.arange(256)).item()) * 100
    print(json.dumps({"stage": "pretrain", "epoch": ep, "nce": round(float(np.mean(losses)), 4),
                      "nce_min_batch": round(float(np.min(losses)), 4), "chance_nce": round(float(np.log(B)), 4),
                      "grad_norm": round(float(np.mean(norms)), 3), "view_hit_pct": round(hit, 1), "chance_hit_pct": round(100 / 256, 1)}))

acc, pl = probe_acc(model)
print(json.dumps({"stage": "probe", "encoder": "infonce-frozen", "probe_test_acc_pct": round(acc, 1),
                  "probe_ce": round(pl, 4), "reference_acc_pct": round(ref_acc, 1),
                  "delta_pct": round(acc - ref_acc, 1), "seconds": round(time.time() - t0, 1)}))
