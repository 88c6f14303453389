"""Calibration transfer between two field spectrometers, BitFit style.

Stage 1 trains a mineral classifier on spectra from instrument A and writes it
to a checkpoint.  Stage 2 reloads that checkpoint into a fresh model, freezes
everything except the bias vectors, and adapts only those on a small labelled
set from instrument B (different dark current and detector tilt).
"""
import os
import tempfile
import time
from collections import namedtuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MINERALS = ["quartz", "calcite", "gypsum", "dolomite", "kaolinite"]
BANDS = 24
rng = np.random.default_rng(5)
mx.random.seed(5)

Report = namedtuple("Report", "stage epoch lr train_ce b_test_acc_pct a_test_acc_pct secs")

# ---------------------------------------------------------------- synthetic spectra
wl = np.linspace(0.0, 1.0, BANDS)
FEATURES = {  # (centre, width, depth) absorption features per mineral, made up
    "quartz": [(0.20, 0.05, 0.10), (0.82, 0.06, 0.18)],
    "calcite": [(0.55, 0.05, 0.30), (0.70, 0.04, 0.12)],
    "gypsum": [(0.30, 0.04, 0.25), (0.52, 0.05, 0.22)],
    "dolomite": [(0.58, 0.05, 0.28), (0.72, 0.04, 0.10)],
    "kaolinite": [(0.35, 0.03, 0.20), (0.38, 0.03, 0.18), (0.85, 0.05, 0.10)],
}


def spectra(n, instrument):
    y = rng.integers(0, len(MINERALS), size=n)
    X = np.empty((n, BANDS))
    for i, c in enumerate(y):
        base = 0.6 + 0.2 * rng.uniform() - 0.15 * wl * rng.uniform()
        grain = rng.uniform(0.6, 1.4)
        r = base.copy()
        for centre, width, depth in FEATURES[MINERALS[c]]:
            shift = rng.normal(0.0, 0.01)
            r -= grain * depth * np.exp(-0.5 * ((wl - centre - shift) / width) ** 2)
        X[i] = r
    X += rng.normal(0.0, 0.02, X.shape)
    if instrument == "B":
        dark = 0.22 + 0.10 * np.sin(6.0 * wl)  # per-band offset
        tilt = 1.0 - 0.40 * wl  # detector response falls toward the long end
        X = X * tilt + dark
    return X.astype(np.float32), y.astype(np.int32)


Xa_tr, ya_tr = spectra(20000, "A")
Xa_te, ya_te = spectra(1500, "A")
Xb_tr, yb_tr = spectra(400, "B")
Xb_te, yb_te = spectra(2000, "B")

MU, SD = Xa_tr.mean(0), Xa_tr.std(0)  # instrument-A standardisation, kept for B


def prep(X):
    return mx.array((X - MU) / SD)


Xa_tr_m, Xa_te_m, Xb_tr_m, Xb_te_m = map(prep, (Xa_tr, Xa_te, Xb_tr, Xb_te))
ya_tr_m, ya_te_m, yb_tr_m, yb_te_m = map(mx.array, (ya_tr, ya_te, yb_tr, yb_te))


# ---------------------------------------------------------------- model + helpers
class SpectraNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(BANDS, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU()
        )
        self.head = nn.Linear(128, len(MINERALS))

    def __call__(self, x):
        return self.head(self.body(x))


def ce_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy_pct(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item() * 100.0


def run_epoch(model, opt, step_fn, X, y, batch):
    perm = mx.array(np.random.default_rng(int(rng.integers(1 << 30))).permutation(X.shape[0]))
    total, n = 0.0, 0
    for s in range(0, X.shape[0], batch):
        idx = perm[s : s + batch]
        loss, grads = step_fn(model, X[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item() * idx.shape[0]
        n += idx.shape[0]
    return total / n


def snapshot(model, keep):
    return {k: np.array(v) for k, v in tree_flatten(model.parameters()) if keep(k)}


# ---------------------------------------------------------------- stage 1: instrument A
t0 = time.time()
ckpt_dir = tempfile.mkdtemp(prefix="spectra_ckpt_")
ckpt = os.path.join(ckpt_dir, "instrument_a.safetensors")

src = SpectraNet()
mx.eval(src.parameters())
opt_a = optim.Adam(learning_rate=1e-3)
step_a = nn.value_and_grad(src, ce_loss)
for epoch in range(1, 11):
    ce = run_epoch(src, opt_a, step_a, Xa_tr_m, ya_tr_m, 64)
print(Report("source", 10, 1e-3, round(ce, 4), round(accuracy_pct(src, Xb_te_m, yb_te_m), 2),
             round(accuracy_pct(src, Xa_te_m, ya_te_m), 2), round(time.time() - t0, 1)))
src.save_weights(ckpt)
print("checkpoint written:", os.path.basename(ckpt), os.path.getsize(ckpt), "bytes")

# ---------------------------------------------------------------- stage 2: BitFit on B
model = SpectraNet()
model.load_weights(ckpt)
model.freeze()
model.unfreeze(keys=["bias"])
trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print("trainable leaves:", trainable, f"({n_train} of {n_all} numbers)")
weights_before = snapshot(model, lambda k: k.endswith("weight"))

step_b = nn.value_and_grad(model, ce_loss)
_, g = step_b(model, Xb_tr_m[:40], yb_tr_m[:40])
g_flat = tree_flatten(g)
zero = [k for k, v in g_flat if float(mx.max(mx.abs(v))) == 0.0]
print("first-step gradient:", len(g_flat), "leaves, all-zero:", zero or "none")
assert not zero

b_ce0 = ce_loss(model, Xb_tr_m, yb_tr_m).item()
print(Report("bitfit", 0, None, round(b_ce0, 4), round(accuracy_pct(model, Xb_te_m, yb_te_m), 2),
             round(accuracy_pct(model, Xa_te_m, ya_te_m), 2), round(time.time() - t0, 1)))

sched = optim.step_decay(0.05, 0.5, 300)
opt_b = optim.SGD(learning_rate=sched, momentum=0.9)
for epoch in range(1, 91):
    ce = run_epoch(model, opt_b, step_b, Xb_tr_m, yb_tr_m, 40)
    if epoch in (1, 2, 5, 10, 20, 40, 60, 90):
        lr_now = round(float(opt_b.learning_rate.item()), 5)
        print(Report("bitfit", epoch, lr_now, round(ce, 4),
                     round(accuracy_pct(model, Xb_te_m, yb_te_m), 2),
                     round(accuracy_pct(model, Xa_te_m, ya_te_m), 2), round(time.time() - t0, 1)))

weights_after = snapshot(model, lambda k: k.endswith("weight"))
drift = max(float(np.max(np.abs(weights_after[k] - weights_before[k]))) for k in weights_before)
print("max change of frozen weight matrices:", drift)
os.remove(ckpt)
os.rmdir(ckpt_dir)
print("done", round(time.time() - t0, 1), "s")
