"""Lake monitoring buoy: predict the summer thermocline depth with an uncertainty.

A mean + log-variance MLP is fitted with the Gaussian negative log-likelihood on
standardised targets, so the training objective becomes negative once the model
is sharper than a unit Gaussian.  The run is split in two sessions: session 1
writes a checkpoint (weights + optimiser state), session 2 rebuilds everything
from disk and carries on, reporting only occasionally.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(295)
mx.random.seed(295)

# ------------------------------------------------------------- synthetic buoy log
FEATURES = ["doy_sin", "doy_cos", "wind3d", "surf_temp", "air_temp", "solar", "inflow"]


def buoy_days(n):
    doy = rng.uniform(140, 270, n)
    ang = 2 * np.pi * doy / 365.0
    wind = rng.gamma(3.0, 1.6, n)                       # m/s, 3-day mean
    surf = 14 + 9 * np.sin(2 * np.pi * (doy - 120) / 260) + rng.normal(0, 1.2, n)
    air = surf + rng.normal(1.0, 2.5, n)
    solar = np.clip(260 + 90 * np.sin(2 * np.pi * (doy - 80) / 365) + rng.normal(0, 40, n), 40, None)
    inflow = rng.lognormal(1.0, 0.5, n)
    depth = (3.0 + 0.55 * wind + 0.012 * wind ** 2 * (surf - 10)
             - 0.09 * (surf - 15) + 0.004 * (doy - 140) ** 1.2 / 3
             - 0.003 * (solar - 260) + 0.25 * np.log(inflow))
    sigma = 0.25 + 0.09 * wind                          # windy days mix unevenly
    y = depth + rng.normal(0, 1, n) * sigma
    X = np.stack([np.sin(ang), np.cos(ang), wind, surf, air, solar, inflow], axis=1)
    return X, y, sigma


X_tr, y_tr, s_tr = buoy_days(9000)
X_va, y_va, s_va = buoy_days(1500)
X_te, y_te, s_te = buoy_days(1500)
x_mu, x_sd = X_tr.mean(0), X_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()


def prep(X, y):
    return (mx.array((X - x_mu) / x_sd, dtype=mx.float32),
            mx.array((y - y_mu) / y_sd, dtype=mx.float32))


Xtr, ytr = prep(X_tr, y_tr)
Xva, yva = prep(X_va, y_va)
Xte, yte = prep(X_te, y_te)

# reference numbers a forecaster would compare against
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
floor_va = float(np.mean(np.log(s_va / y_sd) + 0.5) + HALF_LOG_2PI)
A = np.c_[X_tr, np.ones(len(X_tr))]
coef, *_ = np.linalg.lstsq(A, y_tr, rcond=None)
lin_rmse_va = float(np.sqrt(np.mean((np.c_[X_va, np.ones(len(X_va))] @ coef - y_va) ** 2)))
clim_rmse_va = float(np.sqrt(np.mean((y_va - y_mu) ** 2)))
print(f"buoy days: train {len(y_tr)}, val {len(y_va)}, test {len(y_te)}; depth mean {y_mu:.2f} m, sd {y_sd:.2f} m")
print(f"reference on val: climatology RMSE {clim_rmse_va:.3f} m | linear RMSE {lin_rmse_va:.3f} m | "
      f"NLL floor of the true noise {floor_va:.3f}")


class DepthNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.mean_head = nn.Linear(width, 1)
        self.logvar_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean_head(h)[:, 0], mx.clip(self.logvar_head(h)[:, 0], -9.0, 4.0)


def nll(model, x, y):
    mu, logvar = model(x)
    return mx.mean(0.5 * logvar + 0.5 * mx.square(y - mu) * mx.exp(-logvar)) + HALF_LOG_2PI


def report(model, x, y):
    mu, logvar = model(x)
    loss = mx.mean(0.5 * logvar + 0.5 * mx.square(y - mu) * mx.exp(-logvar)) + HALF_LOG_2PI
    rmse_m = mx.sqrt(mx.mean(mx.square(mu - y))) * y_sd
    half = 1.645 * mx.exp(0.5 * logvar)
    cover = mx.mean((mx.abs(y - mu) <= half).astype(mx.float32))
    mx.eval(loss, rmse_m, cover)
    return loss.item(), rmse_m.item(), cover.item()


def run_epochs(model, opt, first, last, quiet_every):
    step_fn = nn.value_and_grad(model, nll)
    n = Xtr.shape[0]
    for ep in range(first, last + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n, 250):
            idx = perm[i:i + 250]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        if ep % quiet_every == 0 or ep == last:
            v_nll, v_rmse, v_cov = report(model, Xva, yva)
            print(f"epoch {ep:3d} | train NLL {tot / cnt:+.4f} | val NLL {v_nll:+.4f} (floor {floor_va:+.3f}) | "
                  f"val RMSE {v_rmse:.3f} m (linear {lin_rmse_va:.3f}) | 90% band covers {v_cov:.3f}")


ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "depthnet.safetensors")
o_path = os.path.join(ckpt_dir, "adam_state.safetensors")

# ---------------------------------------------------------------- session 1
t0 = time.time()
model = DepthNet(len(FEATURES))
opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 36 * 90, 1e-4))
mx.eval(model.parameters())
v0 = report(model, Xva, yva)
print(f"epoch   0 | untrained val NLL {v0[0]:+.4f} | val RMSE {v0[1]:.3f} m")
run_epochs(model, opt, 1, 30, quiet_every=5)
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
before = report(model, Xva, yva)
print(f"session 1 done in {time.time() - t0:.1f}s; checkpoint written "
      f"({os.path.getsize(w_path) // 1024} KiB weights, {os.path.getsize(o_path) // 1024} KiB optimiser)")
del model, opt

# ---------------------------------------------------------------- session 2
t1 = time.time()
model = DepthNet(len(FEATURES))
model.load_weights(w_path)
opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 36 * 90, 1e-4))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(o_path).items()))
after = report(model, Xva, yva)
print(f"resumed at optimiser step {int(opt.state['step'].item())}: val NLL {after[0]:+.4f} "
      f"(saved {before[0]:+.4f}), lr {float(opt.learning_rate.item()):.6f}")
run_epochs(model, opt, 31, 90, quiet_every=30)
print(f"session 2 done in {time.time() - t1:.1f}s")

t_nll, t_rmse, t_cov = report(model, Xte, yte)
floor_te = float(np.mean(np.log(s_te / y_sd) + 0.5) + HALF_LOG_2PI)
lin_rmse_te = float(np.sqrt(np.mean((np.c_[X_te, np.ones(len(X_te))] @ coef - y_te) ** 2)))
print(f"TEST | NLL {t_nll:+.4f} (noise floor {floor_te:+.3f}) | RMSE {t_rmse:.3f} m "
      f"(linear {lin_rmse_te:.3f}, climatology {float(np.std(y_te)):.3f}) | 90% band coverage {t_cov:.3f}")

for p in (w_path, o_path):
    os.remove(p)
os.rmdir(ckpt_dir)
