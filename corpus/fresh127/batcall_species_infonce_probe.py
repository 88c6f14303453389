"""Bat detector recordings: learn call embeddings without labels, then probe.

Stage 1 ("pretrain"): SimCLR-style InfoNCE on two augmented views of each
call (Doppler shift, small time jitter, dropped bins, noise), SGD+momentum
with cosine warm restarts (lr starts each cycle from its peak, the very
first step of all uses lr 0 as a warm-up start).
Stage 2 ("probe"): encoder frozen, only a linear head is trained on a small
labelled set; a probe on a randomly initialised (untrained) encoder is
trained the same way as a reference.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

BINS = 32
SPECIES = [
    # name, f_start kHz, f_end kHz, duration share, curvature, cf_tail
    ("pip45", 78.0, 45.0, 0.50, 3.0, 0.35),
    ("pip55", 84.0, 51.0, 0.50, 3.0, 0.35),
    ("noctule", 42.0, 20.0, 0.85, 1.5, 0.50),
    ("myotis", 100.0, 30.0, 0.25, 1.0, 0.00),
    ("horseshoe", 84.0, 70.0, 0.90, 8.0, 0.80),
    ("longeared", 58.0, 26.0, 0.22, 1.2, 0.00),
]


def make_calls(n):
    y = rng.integers(0, len(SPECIES), size=n)
    x = np.zeros((n, BINS + 8), dtype=np.float32)
    for i, k in enumerate(y):
        _, fs, fe, dur, curv, tail = SPECIES[k]
        fs = fs * rng.normal(1.0, 0.06)
        fe = fe * rng.normal(1.0, 0.06)
        dur = np.clip(dur * rng.normal(1.0, 0.12), 0.12, 1.0)
        onset = rng.integers(0, 11) / BINS
        dur = min(dur, 1.0 - onset)
        t = np.linspace(0.0, 1.0, BINS) - onset
        u = np.clip(t / dur, 0.0, 1.0)
        shape = np.exp(-curv * u) * (1 - u) + 0.0
        shape = np.where(u < 1 - tail, shape, shape * 0.2)
        f = fe + (fs - fe) * shape
        on = (t >= 0) & (t <= dur)
        f = np.where(on, f, 0.0)
        f = f + rng.normal(0, 3.0, BINS) * on
        amp = np.where(on, np.sin(np.pi * np.clip(t / dur, 0, 1)) ** 0.5, 0.0)
        coarse = amp.reshape(8, 4).mean(axis=1) * rng.uniform(0.4, 1.0)
        x[i, :BINS] = f / 100.0
        x[i, BINS:] = coarse
    return x, y.astype(np.int32)


x_unl, _ = make_calls(6000)
x_lab, y_lab = make_calls(120)
x_te, y_te = make_calls(1800)


def augment(xb):
    """Two random views of a batch (numpy)."""
    n = xb.shape[0]
    f = xb[:, :BINS].copy()
    a = xb[:, BINS:].copy()
    doppler = rng.normal(1.0, 0.03, size=(n, 1))
    f = f * doppler
    shift = rng.integers(-4, 5, size=n)
    for i in range(n):
        f[i] = np.roll(f[i], shift[i])
    drop = rng.random(f.shape) < 0.1
    f = np.where(drop, 0.0, f)
    f = f + rng.normal(0, 0.02, f.shape)
    a = a * rng.uniform(0.7, 1.3, size=(n, 1))
    return np.concatenate([f, a], axis=1).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(BINS + 8, 128)
        self.l2 = nn.Linear(128, 64)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


class SimCLR(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.proj = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))

    def __call__(self, x):
        z = self.proj(nn.relu(self.encoder(x)))
        return z / mx.sqrt((z * z).sum(axis=1, keepdims=True) + 1e-8)


TAU = 0.2


def nce_loss(model, v1, v2):
    z = model(mx.concatenate([v1, v2], axis=0))
    n = v1.shape[0]
    sim = (z @ z.T) / TAU
    sim = sim - 1e9 * mx.eye(2 * n)
    pos = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    loss = nn.losses.cross_entropy(sim, pos, reduction="mean")
    hit = (mx.argmax(sim, axis=1) == pos).astype(mx.float32).mean()
    return loss, hit


model = SimCLR()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.0, momentum=0.9, weight_decay=1e-5)
vg = nn.value_and_grad(model, nce_loss)

CYCLES, CYCLE_LEN, PEAK, BATCH = 3, 120, 0.08, 128
WARM = 10


def lr_at(step):
    c, s = divmod(step, CYCLE_LEN)
    if c == 0 and s < WARM:
        return PEAK * s / WARM  # starts at exactly 0
    return 0.5 * PEAK * (1 + math.cos(math.pi * s / CYCLE_LEN))


t0 = time.time()
checked = False
for step in range(CYCLES * CYCLE_LEN):
    cycle = step // CYCLE_LEN + 1
    idx = rng.integers(0, len(x_unl), size=BATCH)
    xb = x_unl[idx]
    v1, v2 = mx.array(augment(xb)), mx.array(augment(xb))
    opt.learning_rate = lr_at(step)
    (loss, hit), grads = vg(model, v1, v2)
    if not checked:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.abs(g).sum()) == 0.0]
        print(json.dumps({"check": "grad_nonzero", "tensors": len(flat), "all_zero": zero}))
        checked = True
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, hit)
    s = step % CYCLE_LEN + 1
    if s % 30 == 0 or step == 0:
        print(json.dumps({
            "stage": "pretrain", "cycle": cycle, "step": s,
            "lr": round(float(opt.learning_rate), 5),
            "nce": round(loss.item(), 4),
            "pair_top1": round(hit.item(), 3),
            "nce_chance": round(math.log(2 * BATCH - 1), 3),
        }))


def train_probe(encoder, tag, steps=250):
    encoder.freeze()
    head = nn.Linear(64, len(SPECIES))
    feats_lab = nn.relu(encoder(mx.array(x_lab)))
    feats_te = nn.relu(encoder(mx.array(x_te)))
    mu = feats_lab.mean(axis=0)
    sd = feats_lab.std(axis=0) + 1e-4
    f_lab, f_te = (feats_lab - mu) / sd, (feats_te - mu) / sd
    mx.eval(f_lab, f_te)
    yl, yt = mx.array(y_lab), mx.array(y_te)
    popt = optim.Adam(learning_rate=0.01)

    def ce(h, f, y):
        return nn.losses.cross_entropy(h(f), y, reduction="mean")

    pvg = nn.value_and_grad(head, ce)
    for k in range(1, steps + 1):
        l, g = pvg(head, f_lab, yl)
        popt.update(head, g)
        mx.eval(head.parameters(), popt.state, l)
        if k % 50 == 0:
            acc = (mx.argmax(head(f_te), axis=1) == yt).astype(mx.float32).mean().item()
            print(json.dumps({"stage": "probe", "encoder": tag, "step": k,
                              "xent": round(l.item(), 4), "test_acc_pct": round(100 * acc, 2)}))
    return 100 * (mx.argmax(head(f_te), axis=1) == yt).astype(mx.float32).mean().item()


before = {k: np.array(v) for k, v in tree_flatten(model.encoder.parameters())}
acc_trained = train_probe(model.encoder, "pretrained")
after = {k: np.array(v) for k, v in tree_flatten(model.encoder.parameters())}
frozen_drift = max(float(np.abs(before[k] - after[k]).max()) for k in before)

rand_enc = Encoder()
mx.eval(rand_enc.parameters())
acc_random = train_probe(rand_enc, "random_init")

print(json.dumps({
    "summary": True,
    "probe_acc_pct": round(acc_trained, 2),
    "random_encoder_probe_acc_pct": round(acc_random, 2),
    "chance_pct": round(100 / len(SPECIES), 2),
    "frozen_encoder_max_drift": frozen_drift,
    "seconds": round(time.time() - t0, 1),
}))
