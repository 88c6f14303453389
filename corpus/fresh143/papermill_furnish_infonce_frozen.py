"""Paper mill QC lab: learn an embedding of NIR sheet spectra that ignores
moisture / basis weight / lamp drift (contrastive, two views of each sheet),
then check it with a linear probe on the fibre furnish.

The 'spectrometer' front end is a fixed calibration matrix: frozen on purpose.
"""
from functools import partial
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BANDS = 40
FURNISH = ["kraft_soft", "kraft_hard", "recycled", "TMP", "cotton_rag", "bagasse"]
rs = np.random.RandomState(2026)
wl = np.linspace(0.0, 1.0, BANDS)

# each furnish: lignin / cellulose / ash / filler absorption mixture
centres = np.array([0.15, 0.32, 0.48, 0.63, 0.81])
mix = np.array([
    [0.2, 1.0, 0.1, 0.1, 0.3],
    [0.3, 0.8, 0.2, 0.2, 0.5],
    [0.5, 0.6, 0.8, 0.6, 0.4],
    [1.0, 0.5, 0.1, 0.1, 0.8],
    [0.05, 1.2, 0.05, 0.0, 0.2],
    [0.6, 0.7, 0.3, 0.4, 0.9],
])


def sheets(n):
    lab = rs.randint(0, len(FURNISH), n)
    conc = mix[lab] * rs.lognormal(0.0, 0.25, (n, 5))
    bands = np.exp(-((wl[None, None, :] - centres[None, :, None]) ** 2) / 0.004)
    return (conc[:, :, None] * bands).sum(1), lab


def view(absorb):
    """one measurement of a sheet: random basis weight, moisture, lamp tilt"""
    n = absorb.shape[0]
    gram = rs.uniform(0.6, 1.6, (n, 1))
    water = rs.uniform(0.0, 0.6, (n, 1)) * np.exp(-((wl - 0.72) ** 2) / 0.002)
    tilt = rs.normal(0.0, 0.3, (n, 1)) * (wl - 0.5)
    a = gram * absorb + water + tilt + rs.normal(0.0, 0.03, absorb.shape)
    return a.astype(np.float32)


pool, pool_lab = sheets(6000)
probe_tr, probe_tr_lab = sheets(1200)
probe_te, probe_te_lab = sheets(1200)

mx.random.seed(11)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.spectro = nn.Linear(BANDS, 48, bias=False)   # calibration, frozen
        self.body = nn.Sequential(nn.Linear(48, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU())
        self.head = nn.Linear(96, 24)

    def features(self, x):
        x = x - x.mean(axis=1, keepdims=True)
        return self.body(self.spectro(x))

    def __call__(self, x):
        z = self.head(self.features(x))
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


enc = Encoder()
enc.spectro.freeze()
mx.eval(enc.parameters())
spectro_before = np.array(enc.spectro.weight)
TAU = 0.2


def info_nce(model, a, b):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / TAU
    tgt = mx.arange(a.shape[0])
    l1 = nn.losses.cross_entropy(logits, tgt, reduction="mean")
    l2 = nn.losses.cross_entropy(logits.T, tgt, reduction="mean")
    hit = (mx.argmax(logits, axis=1) == tgt).astype(mx.float32).mean()
    return 0.5 * (l1 + l2), hit


opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
state = [enc.state, opt.state]
loss_grad = nn.value_and_grad(enc, info_nce)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(a, b):
    (loss, hit), g = loss_grad(enc, a, b)
    opt.update(enc, g)
    return loss, hit


# one un-compiled look at the gradients: trainable tensors all get some
(_, _), g0 = loss_grad(enc, mx.array(view(pool[:64])), mx.array(view(pool[:64])))
flat = dict(tree_flatten(g0))
assert "spectro.weight" not in flat
assert all(mx.abs(v).sum().item() > 0 for v in flat.values())

B = 128
STEPS = 900
print(f"{'step':>5} | {'nce':>6} | {'top1%':>6} | {'log(B)':>6} | {'calib drift':>11}")
print("-" * 48)
t0 = time.time()
acc_l, acc_h, n = 0.0, 0.0, 0
for step in range(1, STEPS + 1):
    idx = rs.choice(len(pool), B, replace=False)
    a = mx.array(view(pool[idx]))
    b = mx.array(view(pool[idx]))
    loss, hit = train_step(a, b)
    mx.eval(state, loss, hit)
    acc_l += loss.item()
    acc_h += hit.item()
    n += 1
    if step % 100 == 0 or step == 1:
        drift = float(np.abs(np.array(enc.spectro.weight) - spectro_before).max())
        print(f"{step:>5} | {acc_l / n:6.3f} | {100 * acc_h / n:6.1f} | {np.log(B):6.3f} | {drift:11.2e}")
        acc_l, acc_h, n = 0.0, 0.0, 0

# linear probe on frozen features (closed-form ridge, one-hot targets)
def feats(x):
    return np.array(enc.features(mx.array(view(x))))

Ftr, Fte = feats(probe_tr), feats(probe_te)
m, s = Ftr.mean(0), Ftr.std(0) + 1e-6
Ftr, Fte = (Ftr - m) / s, (Fte - m) / s
Y = np.eye(len(FURNISH))[probe_tr_lab]
W = np.linalg.solve(Ftr.T @ Ftr + 1.0 * np.eye(Ftr.shape[1]), Ftr.T @ Y)
probe_acc = (np.argmax(Fte @ W, 1) == probe_te_lab).mean()

# same probe on raw (mean-centred) spectra as the reference
Rtr = view(probe_tr); Rtr -= Rtr.mean(1, keepdims=True)
Rte = view(probe_te); Rte -= Rte.mean(1, keepdims=True)
rm, rsd = Rtr.mean(0), Rtr.std(0) + 1e-6
Rtr, Rte = (Rtr - rm) / rsd, (Rte - rm) / rsd
Wr = np.linalg.solve(Rtr.T @ Rtr + 1.0 * np.eye(BANDS), Rtr.T @ Y)
raw_acc = (np.argmax(Rte @ Wr, 1) == probe_te_lab).mean()

print("-" * 48)
print(f"probe furnish acc {100 * probe_acc:.1f}% (raw-spectrum ridge {100 * raw_acc:.1f}%, chance {100 / len(FURNISH):.1f}%)"
      f" | {time.time() - t0:.1f}s")
