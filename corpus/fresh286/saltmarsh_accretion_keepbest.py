# Salt-marsh sediment accretion (mm/yr) from synthetic site readings.
# Heteroscedastic Gaussian head (mean + log-variance), trained on a small
# survey, with validation-based checkpoint keeping and patience.
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)


def make_sites(n):
    elev = rng.uniform(-0.4, 0.8, n)          # m relative to mean high water
    tide = rng.uniform(1.0, 4.0, n)           # tidal range, m
    ssc = rng.lognormal(3.0, 0.5, n)          # suspended sediment, mg/L
    veg = rng.uniform(0.0, 1.0, n)            # stem density index
    creek = rng.exponential(60.0, n)          # distance to creek, m
    storm = rng.poisson(3.0, n).astype(float)  # storm surges per year
    inund = np.clip(0.5 - elev / tide * 2.0, 0.0, 1.5)
    mean = (2.0 + 6.0 * inund * np.log(ssc) / 4.0 + 1.5 * veg
            - 1.2 * np.log1p(creek) / 4.0 + 0.4 * storm)
    sd = 0.04 + 0.08 * inund + 0.03 * storm
    y = mean + sd * rng.standard_normal(n)
    X = np.stack([elev, tide, np.log(ssc), veg, np.log1p(creek), storm], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_sites(160)
Xva, yva = make_sites(400)
Xte, yte = make_sites(2000)
mu, sig = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = [(a - mu) / sig for a in (Xtr, Xva, Xte)]
Xtr, ytr, Xva, yva, Xte, yte = map(mx.array, (Xtr, ytr, Xva, yva, Xte, yte))


class MarshNet(nn.Module):
    def __init__(self, d_in=6, width=128):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.mean = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gauss_nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


def rmse(model, x, y):
    m, _ = model(x)
    return mx.sqrt(mx.mean((m - y) ** 2)).item()


mx.random.seed(3)
model = MarshNet()
mx.eval(model.parameters())

warm = 30
peak = 3e-3
sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                              optim.cosine_decay(peak, 4000, 3e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, gauss_nll)

ckpt_dir = tempfile.mkdtemp()
best_path = os.path.join(ckpt_dir, "best.safetensors")
patience, min_delta = 25, 1e-3
best_val, best_epoch, waited = float("inf"), -1, 0
batch = 32
n = Xtr.shape[0]

# Baseline: constant Gaussian fitted to training targets.
b_mu, b_sd = ytr.mean().item(), ytr.std().item()
base_nll = (0.5 * (math.log(b_sd ** 2) + ((yte - b_mu) ** 2).mean().item() / b_sd ** 2
                   + math.log(2 * math.pi)))
base_rmse = math.sqrt(((yte - b_mu) ** 2).mean().item())
print(f"baseline (train mean/std): test nll {base_nll:.3f}  rmse {base_rmse:.3f}")

for epoch in range(400):
    perm = mx.array(np.random.default_rng(epoch).permutation(n))
    tot = 0.0
    for i in range(0, n, batch):
        idx = perm[i:i + batch]
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.shape[0]
    tr = tot / n
    va = gauss_nll(model, Xva, yva).item()
    if epoch == 0:
        print(f"epoch 0: lr after {opt.step.item()} steps {opt.learning_rate.item():.2e}"
              f"  train nll {tr:.3f}  val nll {va:.3f}")
    if va < best_val - min_delta:
        best_val, best_epoch, waited = va, epoch, 0
        model.save_weights(best_path)
        print(f"epoch {epoch:3d}  train nll {tr:7.3f}  val nll {va:7.3f}  * kept")
    else:
        waited += 1
        if epoch % 20 == 0:
            print(f"epoch {epoch:3d}  train nll {tr:7.3f}  val nll {va:7.3f}  (no gain for {waited})")
        if waited >= patience:
            print(f"stopping at epoch {epoch}: val nll {va:.3f} vs best {best_val:.3f} at epoch {best_epoch}")
            break

last_nll = gauss_nll(model, Xte, yte).item()
last_rmse = rmse(model, Xte, yte)
model.load_weights(best_path)
mx.eval(model.parameters())
best_nll = gauss_nll(model, Xte, yte).item()
best_rmse = rmse(model, Xte, yte)
print(f"last weights   : test nll {last_nll:.3f}  rmse {last_rmse:.3f}")
print(f"kept (epoch {best_epoch:3d}): test nll {best_nll:.3f}  rmse {best_rmse:.3f}")
print(f"baseline       : test nll {base_nll:.3f}  rmse {base_rmse:.3f}")
