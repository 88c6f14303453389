"""Irrigation sluice gate: discharge (m3/s) from gate opening, upstream head,
downstream head and a debris index, with scatter that grows with debris.
'Faithful' heteroscedastic regression (Stirn et al. 2023): the mean head is fit
by squared error, the spread head by Gaussian NLL against a stop_gradient'ed
mean, so the spread cannot pull the mean around. Output: INI-style sections."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)


def simulate(n):
    opening = rng.uniform(0.1, 1.2, n)
    up = rng.uniform(1.0, 3.0, n)
    down = up * rng.uniform(0.1, 0.8, n)
    debris = rng.beta(2, 5, n)
    q = 0.6 * opening * np.sqrt(2 * 9.81 * (up - down)) * (1 - 0.3 * debris)
    sd = 0.05 + 0.6 * debris
    y = q + rng.normal(0, 1, n) * sd
    x = np.stack([opening, up, down, debris], 1)
    return x.astype(np.float32), y.astype(np.float32), sd.astype(np.float32)


xtr, ytr, _ = simulate(6000)
xva, yva, sdva = simulate(1500)
mu_x, sd_x = xtr.mean(0), xtr.std(0)
xtr_n, xva_n = (xtr - mu_x) / sd_x, (xva - mu_x) / sd_x
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr_n, ytr, xva_n, yva))
oracle_nll = float(np.mean(0.5 * np.log(2 * np.pi * sdva ** 2) + 0.5))


class Faithful(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.mean = nn.Linear(48, 1)
        self.spread = nn.Sequential(nn.Linear(48, 32), nn.SiLU(), nn.Linear(32, 1))

    def __call__(self, x):
        h = self.trunk(x)
        # spread head sees a detached trunk: its NLL only shapes the spread
        log_var = mx.clip(self.spread(mx.stop_gradient(h)).squeeze(-1), -9.0, 4.0)
        return self.mean(h).squeeze(-1), log_var


def objective(model, x, y):
    mu, log_var = model(x)
    sq = (y - mu) ** 2
    nll = 0.5 * (math.log(2 * math.pi) + log_var + mx.stop_gradient(sq) * mx.exp(-log_var))
    return sq.mean() + nll.mean(), (sq.mean(), nll.mean())


def metrics(model, x, y):
    mu, log_var = model(x)
    sd = mx.exp(0.5 * log_var)
    nll = (0.5 * (math.log(2 * math.pi) + log_var + (y - mu) ** 2 / sd ** 2)).mean()
    rmse = mx.sqrt(((y - mu) ** 2).mean())
    cover = (mx.abs(y - mu) <= 1.645 * sd).mean() * 100
    return nll.item(), rmse.item(), cover.item()


model = Faithful()
steps, warm = 900, 120
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, warm),
                              optim.cosine_decay(4e-3, steps - warm, 2e-4)], [warm])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, objective)

const_nll = float(0.5 * np.log(2 * np.pi * ytr.var()) + 0.5)
print("[data]")
print(f"train = {len(ytr)}\nvalid = {len(yva)}\nconstant_model_nll = {const_nll:.3f}\noracle_nll = {oracle_nll:.3f}")
n0, r0, c0 = metrics(model, Xva, Yva)
print(f"\n[untrained]\nvalid_nll = {n0:.3f}\nvalid_rmse = {r0:.3f}\ncover90_pct = {c0:.1f}")

t0 = time.time()
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, len(ytr), 128))
    lr_used = float(sched(opt.step).item()) if hasattr(opt, "step") else float("nan")
    (loss, (mse, nll)), grads = vg(model, Xtr[idx], Ytr[idx])
    if step == 1:
        leaves = [(k, float(mx.abs(v).sum().item())) for k, v in
                  __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(grads)]
        print(f"\n[first_step]\nlr_used = {lr_used:.1e}\ngrad_leaves = {len(leaves)}\n"
              f"zero_grad_leaves = {sum(1 for _, g in leaves if g == 0.0)}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 60, 120, 300, 600, 900):
        vn, vr, vc = metrics(model, Xva, Yva)
        print(f"\n[step {step}]\nlr_used = {lr_used:.2e}\nbatch_mse = {mse.item():.4f}\n"
              f"batch_nll = {nll.item():+.3f}\nvalid_nll = {vn:+.3f}\nvalid_rmse = {vr:.3f}\n"
              f"cover90_pct = {vc:.1f}\nsecs = {time.time() - t0:.1f}")
vn, vr, vc = metrics(model, Xva, Yva)
print(f"\n[done]\nvalid_nll = {vn:+.3f}\noracle_nll = {oracle_nll:+.3f}\nvalid_rmse = {vr:.3f}\ncover90_pct = {vc:.1f}")
