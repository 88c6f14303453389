"""Self-supervised pre-training (VICReg) on railway axle-bearing vibration spectra,
then a linear probe on a frozen encoder.

Wayside acoustic detectors record a 32-bin envelope spectrum per passing axle.  Only a
few hundred axles were ever torn down and labelled (healthy / outer race / inner race /
rolling element), but thousands of unlabelled spectra are on disk.

Stage 1: VICReg (invariance + variance + covariance terms) on two augmented views of
         each unlabelled spectrum; AdamW with a linear warm-up from lr 0.
Stage 2: the encoder is frozen on purpose; only a Linear head is fitted on the
         labelled axles.  The same probe helper is also run on a randomly initialised
         encoder as a reference.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
mx.random.seed(2024)

BINS = 32
CLASSES = ["healthy", "outer_race", "inner_race", "rolling_elem"]


# ---------------------------------------------------------------- data
def make_spectra(n, r):
    y = r.integers(0, 4, size=n)
    f = np.arange(BINS, dtype=np.float64)
    speed = r.uniform(0.8, 1.25, size=n)               # shaft speed scales fault orders
    x = np.zeros((n, BINS))
    x += 0.6 * np.exp(-f / 9.0)                         # 1/f-ish background
    x += 0.15 * np.exp(-0.5 * ((f[None] - 2.0 * speed[:, None]) / 0.7) ** 2)  # 1x shaft
    for i in range(n):
        s = speed[i]
        if y[i] == 1:                                   # outer race: BPFO harmonics
            for h in (1, 2, 3):
                x[i] += 0.55 / h * np.exp(-0.5 * ((f - 5.1 * h * s) / 0.6) ** 2)
        elif y[i] == 2:                                 # inner race: BPFI + sidebands
            for h in (1, 2):
                c = 7.9 * h * s
                x[i] += 0.5 / h * np.exp(-0.5 * ((f - c) / 0.6) ** 2)
                x[i] += 0.2 / h * np.exp(-0.5 * ((f - c - 2 * s) / 0.6) ** 2)
                x[i] += 0.2 / h * np.exp(-0.5 * ((f - c + 2 * s) / 0.6) ** 2)
        elif y[i] == 3:                                 # rolling element: BSF, broad
            x[i] += 0.35 * np.exp(-0.5 * ((f - 3.4 * s) / 0.9) ** 2)
            x[i] += 0.3 * np.exp(-0.5 * ((f - 6.8 * s) / 1.1) ** 2)
    gain = np.exp(r.normal(0.0, 0.35, size=(n, 1)))     # detector / load gain
    x = gain * x + 0.05 * r.standard_normal((n, BINS))
    return np.log1p(np.clip(x, 0.0, None) * 10.0).astype(np.float32), y.astype(np.int32)


t_data = time.time()
X_unl, _ = make_spectra(6000, rng)
X_lab, y_lab = make_spectra(400, rng)
X_test, y_test = make_spectra(1500, rng)
mu, sd = X_unl.mean(0), X_unl.std(0) + 1e-6


def standardise(a):
    return ((a - mu) / sd).astype(np.float32)


def augment(batch, r):
    """Two random views: gain, additive noise, +-1 bin shift, a dropped band."""
    out = batch * np.exp(r.normal(0.0, 0.25, size=(len(batch), 1)))
    out = out + 0.06 * r.standard_normal(batch.shape)
    n = len(batch)
    shift = r.integers(-1, 2, size=n)
    cols = (np.arange(BINS)[None, :] - shift[:, None]) % BINS
    out = out[np.arange(n)[:, None], cols]
    start = r.integers(0, BINS - 3, size=n)[:, None]
    band = (np.arange(BINS)[None, :] >= start) & (np.arange(BINS)[None, :] < start + 3)
    drop = band & (r.random((n, 1)) < 0.5)
    out = np.where(drop, 0.0, out)
    return standardise(out.astype(np.float32))


Xl = mx.array(standardise(X_lab))
Yl = mx.array(y_lab)
Xt = mx.array(standardise(X_test))
Yt = mx.array(y_test)


# ---------------------------------------------------------------- models
class Encoder(nn.Module):
    def __init__(self, d_in=BINS, hidden=128, d_rep=64):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, d_rep)

    def __call__(self, x):
        return self.fc2(nn.relu(self.norm(self.fc1(x))))


class VICRegNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.expander = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128))

    def __call__(self, x):
        return self.expander(self.encoder(x))


class Probe(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(64, len(CLASSES))

    def __call__(self, x):
        return self.head(self.encoder(x))


def off_diagonal_sq_sum(c):
    d = c.shape[0]
    return mx.sum(mx.square(c)) - mx.sum(mx.square(mx.diagonal(c)))


def vicreg_terms(z1, z2):
    n, d = z1.shape
    inv = mx.mean(mx.square(z1 - z2))
    z1c = z1 - z1.mean(axis=0)
    z2c = z2 - z2.mean(axis=0)
    std1 = mx.sqrt(mx.mean(mx.square(z1c), axis=0) + 1e-4)
    std2 = mx.sqrt(mx.mean(mx.square(z2c), axis=0) + 1e-4)
    var = 0.5 * (mx.mean(nn.relu(1.0 - std1)) + mx.mean(nn.relu(1.0 - std2)))
    c1 = (z1c.T @ z1c) / (n - 1)
    c2 = (z2c.T @ z2c) / (n - 1)
    cov = (off_diagonal_sq_sum(c1) + off_diagonal_sq_sum(c2)) / d
    return inv, var, cov


def vicreg_loss(model, v1, v2):
    inv, var, cov = vicreg_terms(model(v1), model(v2))
    return 25.0 * inv + 25.0 * var + 1.0 * cov, (inv, var, cov)


def knn_accuracy(encoder, k=5):
    """Cosine kNN on the 400 labelled axles, scored on the test axles (percent)."""
    bank = encoder(Xl)
    query = encoder(Xt)
    bank = bank / mx.linalg.norm(bank, axis=1, keepdims=True)
    query = query / mx.linalg.norm(query, axis=1, keepdims=True)
    sims = query @ bank.T
    idx = mx.argpartition(-sims, kth=k, axis=1)[:, :k]
    votes = Yl[idx]
    counts = mx.stack([mx.sum(votes == c, axis=1) for c in range(len(CLASSES))], axis=1)
    pred = mx.argmax(counts, axis=1)
    return 100.0 * mx.mean(pred == Yt).item()


@dataclass
class PretrainReport:
    step: int
    lr: float
    vicreg: float | None
    invariance: float | None
    variance: float | None
    covariance: float | None
    knn5_acc_pct: float
    secs: float


@dataclass
class ProbeReport:
    encoder: str
    iters: int
    train_ce: float
    train_acc_pct: float
    test_acc_pct: float
    encoder_max_change: float


# ---------------------------------------------------------------- stage 1
STEPS, BATCH, WARMUP = 900, 192, 100
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARMUP), optim.cosine_decay(2e-3, STEPS - WARMUP, 1e-5)],
    [WARMUP],
)
net = VICRegNet()
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
grad_fn = nn.value_and_grad(net, vicreg_loss)
mx.eval(net.parameters())

print(f"data: {len(X_unl)} unlabelled, {len(X_lab)} labelled, {len(X_test)} test spectra "
      f"({time.time() - t_data:.1f}s to synthesise)")
print(PretrainReport(0, 0.0, None, None, None, None,
                     round(knn_accuracy(net.encoder), 2), 0.0))

aug_rng = np.random.default_rng(99)
win = []
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = aug_rng.integers(0, len(X_unl), size=BATCH)
    raw = X_unl[idx]
    v1, v2 = mx.array(augment(raw, aug_rng)), mx.array(augment(raw, aug_rng))
    lr_now = float(schedule(opt.step))
    (loss, terms), grads = grad_fn(net, v1, v2)
    if step == 1:
        flat = tree_flatten(grads)
        dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        print(f"first-step gradient check: {len(flat)} leaves, all non-zero: {not dead}")
        if dead:
            raise SystemExit(f"no gradient for {dead}")
    opt.update(net, grads)
    mx.eval(net.parameters(), opt.state, loss, terms)
    win.append([loss.item()] + [t.item() for t in terms])
    if step % 100 == 0:
        m = [float(v) for v in np.mean(win, axis=0)]
        print(PretrainReport(step, round(lr_now, 6), round(m[0], 4), round(m[1], 4),
                             round(m[2], 4), round(m[3], 4),
                             round(knn_accuracy(net.encoder), 2), round(time.time() - t0, 1)))
        win = []


# ---------------------------------------------------------------- stage 2
def train_probe(encoder, name, iters=300):
    probe = Probe(encoder)
    probe.encoder.freeze()
    before = [v for _, v in tree_flatten(probe.encoder.parameters())]
    trainable = [k for k, _ in tree_flatten(probe.trainable_parameters())]
    popt = optim.SGD(learning_rate=0.1, momentum=0.9)

    def ce(model, x, y):
        return mx.mean(nn.losses.cross_entropy(model(x), y))

    pgrad = nn.value_and_grad(probe, ce)
    for i in range(iters):
        loss, g = pgrad(probe, Xl, Yl)
        if i == 0:
            nz = all(float(mx.abs(v).max()) > 0 for _, v in tree_flatten(g))
            print(f"  probe[{name}] trainable leaves {trainable}, first-step grads non-zero: {nz}")
        popt.update(probe, g)
        mx.eval(probe.trainable_parameters(), popt.state, loss)
    after = [v for _, v in tree_flatten(probe.encoder.parameters())]
    drift = max(float(mx.abs(a - b).max()) for a, b in zip(after, before))
    tr_acc = 100.0 * mx.mean(mx.argmax(probe(Xl), axis=1) == Yl).item()
    te_acc = 100.0 * mx.mean(mx.argmax(probe(Xt), axis=1) == Yt).item()
    return ProbeReport(name, iters, round(loss.item(), 4), round(tr_acc, 2), round(te_acc, 2), drift)


print("linear probes (encoder frozen, head only):")
print(train_probe(Encoder(), "random-init"))
print(train_probe(net.encoder, "vicreg"))
print(f"chance level: {100.0 / len(CLASSES):.1f}% ; done in {time.time() - t_data:.1f}s")
