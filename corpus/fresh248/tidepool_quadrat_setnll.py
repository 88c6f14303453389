# Tide-pool survey: each pool has 2-20 quadrat readings (temperature, depth, algae cover,
# snail count), padded to 20 rows. Predict pool salinity (psu) with a mean and a spread.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_MAX, F = 20, 4
rng = np.random.default_rng(11)

def survey(n):
    x = np.zeros((n, N_MAX, F), np.float32); m = np.zeros((n, N_MAX), np.float32); y = np.zeros((n,), np.float32)
    for i in range(n):
        k = rng.integers(2, N_MAX + 1)
        evap = rng.uniform(0, 1)
        temp = 14 + 10 * evap + rng.normal(0, 0.5, k)
        depth = rng.uniform(0.05, 0.6, k)
        algae = np.clip(0.7 - 0.5 * evap + rng.normal(0, 0.1, k), 0, 1)
        snails = rng.poisson(3 + 4 * (1 - evap), k)
        x[i, :k] = np.stack([(temp - 19) / 4, (depth - 0.3) / 0.15, (algae - 0.45) / 0.2, (snails - 5) / 2.5], 1)
        m[i, :k] = 1
        y[i] = 33 + 8 * evap - 3 * depth.mean() + rng.normal(0, 0.1 + 0.3 * evap)
    return mx.array(x), mx.array(m), mx.array((y - 35) / 3)

class PoolNet(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(F, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.rho = nn.Sequential(nn.Linear(2 * h, h), nn.SiLU(), nn.Linear(h, 2))
    def __call__(self, x, m):
        e = self.phi(x)
        mk = m[..., None]
        mean = (e * mk).sum(1) / mk.sum(1)
        mx_pool = mx.where(mk > 0, e, -1e4).max(1)
        out = self.rho(mx.concatenate([mean, mx_pool], -1))
        return out[:, 0], out[:, 1]

def nll(model, x, m, y):
    mu, logvar = model(x, m)
    return (0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar)) + 0.5 * np.log(2 * np.pi)).mean()

xtr, mtr, ytr = survey(3000)
xva, mva, yva = survey(600)
const_nll = 0.5 * np.log(2 * np.pi * np.e * yva.var().item())
print(f"pools train={xtr.shape[0]} val={xva.shape[0]} quadrats/pool 2..{N_MAX}; constant-Gaussian val nll {const_nll:.3f}")

mx.random.seed(5)
model = PoolNet(); mx.eval(model.parameters())
sched = optim.step_decay(0.05, 0.2, 600)
opt = optim.SGD(learning_rate=sched, momentum=0.9)
step_fn = nn.value_and_grad(model, nll)
t0 = time.time(); step = 0
for epoch in range(1, 31):
    perm = np.random.default_rng(epoch).permutation(xtr.shape[0])
    tot = 0.0; nb = 0
    for s in range(0, len(perm), 50):
        idx = mx.array(perm[s:s + 50])
        loss, g = step_fn(model, xtr[idx], mtr[idx], ytr[idx])
        g, _ = optim.clip_grad_norm(g, 2.0)
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        tot += loss.item(); nb += 1; step += 1
    if epoch in (1, 2, 5, 10, 11, 12, 20, 30):
        mu, lv = model(xva, mva)
        vn = nll(model, xva, mva, yva).item()
        rmse_psu = 3 * mx.sqrt(((mu - yva) ** 2).mean()).item()
        print(f"epoch {epoch:2d} step {step:4d} lr {float(sched(step)):.4f} train_nll {tot/nb:+.3f} val_nll {vn:+.3f} "
              f"(const {const_nll:+.3f}) val_rmse {rmse_psu:.2f} psu  mean_sigma {3*mx.exp(0.5*lv).mean().item():.2f} psu  {time.time()-t0:.0f}s")
print(f"done in {time.time()-t0:.0f}s; nll is in nats per pool on the scaled target and goes below zero when the spread is small")
