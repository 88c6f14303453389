"""Which isotopes are in the sample?  Multi-label identification from a simulated
256-channel NaI gamma-ray spectrum (Poisson counts).

Each spectrum contains a random subset (0-3) of five sources; every source adds
Gaussian photopeaks whose width grows with energy (FWHM ~ 7% at 662 keV) plus a
Compton continuum below each peak, on top of a falling room background.
The live time (hence total counts) varies 10x between spectra.
Features: sqrt(counts) normalised by the spectrum's mean sqrt count.
Model: GELU MLP 256-128-64-5, per-isotope sigmoid, BCE with logits.
Optimiser: RMSprop with a manual step-wise lr drop on a validation plateau.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ISOTOPES = {  # name: [(energy keV, relative intensity)]
    "Am241": [(59.5, 1.0)],
    "Cs137": [(661.7, 1.0)],
    "Co60": [(1173.2, 1.0), (1332.5, 1.0)],
    "K40": [(1460.8, 1.0)],
    "I131": [(364.5, 1.0), (637.0, 0.09), (284.3, 0.06)],
}
NAMES = list(ISOTOPES)
NCH, EMAX = 256, 1600.0
E = (np.arange(NCH) + 0.5) * EMAX / NCH
rng = np.random.default_rng(11)
mx.random.seed(11)


def shape_of(iso):
    s = np.zeros(NCH)
    for e0, w in ISOTOPES[iso]:
        sigma = 0.07 * math.sqrt(661.7 * e0) / 2.355
        s += w * np.exp(-0.5 * ((E - e0) / sigma) ** 2)
        ce = e0 * (1 - 1 / (1 + 2 * e0 / 511.0))  # Compton edge
        s += 0.25 * w * (E < ce) * (0.6 + 0.4 * E / max(ce, 1.0))
    return s / s.sum()


SHAPES = np.stack([shape_of(n) for n in NAMES])
BKG = np.exp(-E / 300.0) + 0.05
BKG /= BKG.sum()


def make_set(n):
    Y = np.zeros((n, len(NAMES)), np.float32)
    X = np.zeros((n, NCH), np.float32)
    for i in range(n):
        k = rng.integers(0, 4)
        present = rng.choice(len(NAMES), size=k, replace=False)
        Y[i, present] = 1
        live = rng.uniform(1.0, 10.0)
        lam = 3000 * live * BKG
        for j in present:
            lam = lam + rng.uniform(300, 3000) * live * SHAPES[j]
        counts = rng.poisson(lam)
        r = np.sqrt(counts)
        X[i] = r / (r.mean() + 1e-6)
    return X, Y


Xtr, Ytr = make_set(5000)
Xva, Yva = make_set(1000)


class Identifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NCH, 128)
        self.l2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, len(NAMES))

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


model = Identifier()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
vg = nn.value_and_grad(model, bce)

_, g = vg(model, mx.array(Xtr[:100]), mx.array(Ytr[:100]))
leaves = tree_flatten(g)
print(f"survey-log :: setup :: {len(leaves)} gradient leaves, "
      f"{sum(float(mx.abs(v).sum()) == 0 for _, v in leaves)} all-zero")
prior = Ytr.mean(0)
base_bce = float(-np.mean(Yva * np.log(prior) + (1 - Yva) * np.log(1 - prior)))
print(f"survey-log :: setup :: prior-only val BCE {base_bce:.4f}; train {len(Xtr)} / val {len(Xva)} spectra")


def f1_per_isotope(logits, y):
    p = (logits > 0).astype(np.float32)
    tp = (p * y).sum(0)
    fp = (p * (1 - y)).sum(0)
    fn = ((1 - p) * y).sum(0)
    return 2 * tp / np.maximum(2 * tp + fp + fn, 1)


BS, EPOCHS = 100, 14
best, bad = 1e9, 0
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    run = []
    for i in range(0, len(Xtr), BS):
        idx = perm[i:i + BS]
        loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
    logits = np.array(model(mx.array(Xva)))
    vloss = bce(model, mx.array(Xva), mx.array(Yva)).item()
    f1 = f1_per_isotope(logits, Yva)
    exact = float(np.mean(np.all((logits > 0) == (Yva > 0.5), axis=1)))
    if vloss < best - 1e-3:
        best, bad = vloss, 0
    else:
        bad += 1
        if bad >= 2:
            opt.learning_rate = opt.learning_rate * 0.3
            bad = 0
    per = " ".join(f"{n}={v:.2f}" for n, v in zip(NAMES, f1))
    print(f"survey-log :: shift {ep:02d} :: trainBCE {np.mean(run):.4f} valBCE {vloss:.4f} "
          f"exact-set {exact:.3f} :: F1 {per} :: lr {opt.learning_rate.item():.1e} :: {time.time() - t0:.1f}s")
print(f"survey-log :: end :: best valBCE {best:.4f} vs prior-only {base_bce:.4f}")
