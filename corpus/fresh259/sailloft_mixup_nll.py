"""Sail loft: predict the draft depth (% of chord) of a cut mainsail from
6 loft measurements, with a per-sail uncertainty (heteroscedastic Gaussian
NLL, so the objective goes negative once the fit is tight).
Stage 1 trains only the two heads on a frozen random trunk; stage 2 unfreezes
everything. Regularisation: mixup whose alpha is ramped up during stage 2
(the training NLL is on mixed targets, so it stops tracking val NLL and
wobbles) and decoupled weight decay written by hand on top of SGD with
Nesterov momentum and gradient-norm clipping."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_sails(n):
    # luff curve, broadseam, cloth stretch, batten stiffness, wind range, cut angle
    x = rng.uniform(-1, 1, size=(n, 6)).astype(np.float32)
    draft = (12 + 2.5 * x[:, 0] + 1.8 * x[:, 1] + 1.2 * np.sin(2.5 * x[:, 2])
             - 1.0 * x[:, 3] * x[:, 4] + 0.6 * x[:, 5] ** 2)
    noise_sd = 0.15 + 0.6 * (x[:, 2] + 1) / 2  # stretchier cloth -> noisier draft
    y = draft + noise_sd * rng.normal(size=n)
    return x, y.astype(np.float32)[:, None]


xtr, ytr = make_sails(5000)
xva, yva = make_sails(1000)
y_mu, y_sd = float(ytr.mean()), float(ytr.std())
base_rmse = float(np.sqrt(np.mean((yva - y_mu) ** 2)))
print(f"draft mean {y_mu:.2f}% sd {y_sd:.2f}; predict-the-mean val RMSE {base_rmse:.3f}")
xtr, xva = mx.array(xtr), mx.array(xva)
ytr_n, yva_n = mx.array((ytr - y_mu) / y_sd), mx.array((yva - y_mu) / y_sd)
yva_raw = mx.array(yva)


class SailNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h), 5.0 * mx.tanh(self.logvar(h) / 5.0)


def gauss_nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)))


def val_metrics(model):
    mu, lv = model(xva)
    rmse = mx.sqrt(mx.mean((mu * y_sd + y_mu - yva_raw) ** 2)).item()
    nll = mx.mean(0.5 * (lv + (yva_n - mu) ** 2 * mx.exp(-lv))).item()
    return rmse, nll


def trunk_snapshot(model):
    return [np.array(v) for _, v in tree_flatten(model.trunk.parameters())]


def trunk_shift(model, snap):
    now = [np.array(v) for _, v in tree_flatten(model.trunk.parameters())]
    return max(float(np.abs(a - b).max()) for a, b in zip(now, snap))


model = SailNet()
mx.eval(model.parameters())
BATCH = 100
steps = xtr.shape[0] // BATCH

# ---- stage 1: heads only, trunk frozen ----
model.trunk.freeze()
snap = trunk_snapshot(model)
opt1 = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, gauss_nll)
t0 = time.time()
for ep in range(6):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    tot = 0.0
    for i in range(steps):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, g = vg(model, xtr[idx], ytr_n[idx])
        opt1.update(model, g)
        mx.eval(model.parameters(), opt1.state, loss)
        tot += loss.item()
    rmse, nll = val_metrics(model)
    print(f"stage1 epoch {ep + 1} train NLL {tot / steps:+.4f} val NLL {nll:+.4f} "
          f"val RMSE {rmse:.3f} (mean baseline {base_rmse:.3f})")
print(f"stage1 trunk max |change| {trunk_shift(model, snap):.2e} (frozen on purpose)")

# ---- stage 2: everything trainable, mixup ramp, SGD+momentum + decoupled decay ----
model.trunk.unfreeze()
LR, WD, EPOCHS2 = 0.004, 1e-2, 18
opt2 = optim.SGD(learning_rate=LR, momentum=0.9, nesterov=True)


def mixup(x, y, alpha):
    if alpha <= 0:
        return x, y
    lam = mx.array(rng.beta(alpha, alpha, size=(x.shape[0], 1)).astype(np.float32))
    j = mx.array(rng.permutation(x.shape[0]))
    return lam * x + (1 - lam) * x[j], lam * y + (1 - lam) * y[j]


for ep in range(EPOCHS2):
    alpha = 0.4 * min(1.0, ep / 8)  # 0 -> 0.4 over 8 epochs
    perm = mx.array(rng.permutation(xtr.shape[0]))
    tot = 0.0
    for i in range(steps):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        xb, yb = mixup(xtr[idx], ytr_n[idx], alpha)
        loss, g = vg(model, xb, yb)
        g, _ = optim.clip_grad_norm(g, 1.0)
        opt2.update(model, g)
        # decoupled weight decay on weight matrices only (not biases)
        flat = [(k, v * (1.0 - LR * WD)) for k, v in tree_flatten(model.trainable_parameters())
                if k.endswith("weight")]
        model.update(tree_unflatten(flat))
        mx.eval(model.parameters(), opt2.state, loss)
        tot += loss.item()
    rmse, nll = val_metrics(model)
    wnorm = sum(float(mx.sum(v * v).item()) for k, v in tree_flatten(model.parameters())
                if k.endswith("weight")) ** 0.5
    print(f"stage2 epoch {ep + 1:2d} mixup alpha {alpha:.2f} train NLL {tot / steps:+.4f} "
          f"val NLL {nll:+.4f} val RMSE {rmse:.3f} (mean baseline {base_rmse:.3f}) |W| {wnorm:.2f}")

rmse, nll = val_metrics(model)
print(f"final val RMSE {rmse:.3f} vs mean baseline {base_rmse:.3f}; val NLL {nll:+.4f}; {time.time() - t0:.1f}s")
