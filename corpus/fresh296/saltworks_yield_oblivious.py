"""Saltworks pan log: kg of salt raked per pan-day, with an honest error bar.

A NODE-style ensemble of soft OBLIVIOUS decision trees (every level of a tree
uses one learned soft feature choice and one threshold shared by all nodes of
that level) predicts a mean and a log-variance per row; the objective is the
Gaussian negative log-likelihood, which goes below zero once the predicted
spread is small. Training runs in three stages; each stage sharpens the
split temperature and restarts the learning-rate cosine (warm restart).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(11)
mx.random.seed(11)

# ---------------------------------------------------------------- data
N, N_PANS = 9000, 8
sun = np.random.uniform(2, 13, N)            # sunshine hours
wind = np.random.gamma(2.0, 2.5, N)          # m/s
hum = np.random.uniform(35, 95, N)           # relative humidity %
baume = np.random.uniform(18, 27, N)         # brine density, deg Baume
depth = np.random.uniform(3, 12, N)          # brine depth cm
days = np.random.randint(0, 20, N)           # days since the pan was flooded
pan = np.random.randint(0, N_PANS, N)
pan_eff = np.random.normal(0, 0.12, N_PANS)

# kg per m2 tenths: crystallisation only once the brine is near saturation
sat = 1.0 / (1.0 + np.exp(-(baume - 24.5) * 1.6))
evap = 0.5 * sun + 0.25 * np.minimum(wind, 8) - 0.04 * (hum - 60)
mean_true = (2.0 + 3.0 * sat * np.maximum(evap, 0.0) * np.minimum(days, 10) / 10
             * (1 + pan_eff[pan]) - 0.08 * (depth - 7) ** 2 / 4)
sd_true = 0.25 + 0.12 * wind               # gusty days -> uneven raking
y = (mean_true + sd_true * np.random.randn(N)).astype(np.float32)

num = np.stack([sun, wind, hum, baume, depth, days], axis=1).astype(np.float32)
perm = np.random.permutation(N)
tr, va, te = perm[:6500], perm[6500:7700], perm[7700:]
mu, sd = num[tr].mean(0), num[tr].std(0)
num = (num - mu) / sd
y_mu, y_sd = float(y[tr].mean()), float(y[tr].std())
yz = (y - y_mu) / y_sd
pan32 = pan.astype(np.int32)


# ---------------------------------------------------------------- model
class ObliviousForest(nn.Module):
    def __init__(self, n_in, n_trees=24, depth=4, n_out=2):
        super().__init__()
        self.select = 0.5 * mx.random.normal((n_trees, depth, n_in))
        self.threshold = mx.zeros((n_trees, depth))
        self.log_scale = mx.zeros((n_trees, depth))
        self.leaves = 0.1 * mx.random.normal((n_trees, 2 ** depth, n_out))
        bits = (np.arange(2 ** depth)[:, None] >> np.arange(depth)[None]) & 1
        self._bits = mx.array(bits.astype(np.float32))   # (leaves, depth)
        self.tau = 1.0

    def __call__(self, x):
        w = mx.softmax(self.select, axis=-1)                  # (T, D, F)
        fv = mx.einsum("bf,tdf->btd", x, w)                   # (B, T, D)
        p = mx.sigmoid((fv - self.threshold) * mx.exp(self.log_scale) / self.tau)
        p = p[:, :, None, :]                                  # (B, T, 1, D)
        route = self._bits * p + (1 - self._bits) * (1 - p)   # (B, T, L, D)
        leaf_p = mx.prod(route, axis=-1)                      # (B, T, L)
        out = mx.einsum("btl,tlo->bo", leaf_p, self.leaves)
        return out / self.leaves.shape[0] ** 0.5


class YieldModel(nn.Module):
    def __init__(self, n_num, n_pans, d_pan=3):
        super().__init__()
        self.pan_emb = nn.Embedding(n_pans, d_pan)
        self.forest = ObliviousForest(n_num + d_pan)
        self.bias = mx.array([0.0, -0.5])

    def __call__(self, xn, xp):
        out = self.forest(mx.concatenate([xn, self.pan_emb(xp)], axis=1)) + self.bias
        return out[:, 0], mx.clip(out[:, 1], -7.0, 4.0)


def nll(model, xn, xp, yb):
    m, lv = model(xn, xp)
    return mx.mean(0.5 * (lv + (yb - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))


def evaluate(model, rows):
    xn, xp, yb = mx.array(num[rows]), mx.array(pan32[rows]), mx.array(yz[rows])
    m, lv = model(xn, xp)
    loss = nll(model, xn, xp, yb).item()
    rmse_kg = float(np.sqrt(np.mean((np.array(m) - yz[rows]) ** 2))) * y_sd
    z = (np.array(m) - yz[rows]) / np.exp(0.5 * np.array(lv))
    cover = float(np.mean(np.abs(z) < 1.96))
    return loss, rmse_kg, cover


model = YieldModel(num.shape[1], N_PANS)
mx.eval(model.parameters())
step = nn.value_and_grad(model, nll)
BS, EPOCHS_PER_STAGE = 256, 10
spe = int(np.ceil(len(tr) / BS))
STAGES = [(1.0, 2e-2), (0.5, 1.2e-2), (0.25, 6e-3)]   # (split temperature, peak lr)
t0 = time.time()

for stage, (tau, lr) in enumerate(STAGES, 1):
    model.forest.tau = tau
    opt = optim.Adam(learning_rate=optim.cosine_decay(lr, EPOCHS_PER_STAGE * spe, lr / 50))
    print(f"--- stage {stage}: split temperature {tau}, lr restart at {lr:.1e}")
    for ep in range(1, EPOCHS_PER_STAGE + 1):
        order = np.random.permutation(tr)
        run = []
        for s in range(0, len(order), BS):
            b = order[s:s + BS]
            loss, g = step(model, mx.array(num[b]), mx.array(pan32[b]), mx.array(yz[b]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
        if ep in (1, 5, EPOCHS_PER_STAGE):
            vl, vr, vc = evaluate(model, va)
            print(f"stage {stage} epoch {ep:2d}  train NLL {np.mean(run):+.4f}  "
                  f"val NLL {vl:+.4f}  val RMSE {vr:.3f} kg  95% band cover {vc:.3f}")

# ---------------------------------------------------------------- baselines
tl, trmse, tcov = evaluate(model, te)
const_nll = 0.5 * (np.log(2 * np.pi) + 1.0 + np.log(np.var(yz[tr])))
const_rmse = float(np.sqrt(np.mean((y[te] - y_mu) ** 2)))
X = np.concatenate([num, np.eye(N_PANS)[pan], np.ones((N, 1))], axis=1)
beta = np.linalg.solve(X[tr].T @ X[tr] + 1e-2 * np.eye(X.shape[1]), X[tr].T @ yz[tr])
ridge_rmse = float(np.sqrt(np.mean((X[te] @ beta - yz[te]) ** 2))) * y_sd
floor = float(np.sqrt(np.mean(sd_true[te] ** 2)))
print(f"test NLL (standardised target) forest {tl:+.4f} | constant Gaussian {const_nll:+.4f}")
print(f"test RMSE kg  forest {trmse:.3f} | ridge {ridge_rmse:.3f} | mean {const_rmse:.3f}"
      f" | noise floor {floor:.3f}")
print(f"test 95% band coverage {tcov:.3f}")
print(f"done in {time.time() - t0:.1f}s")
