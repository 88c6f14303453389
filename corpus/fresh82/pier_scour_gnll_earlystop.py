"""Bridge pier scour depth (m) with an uncertainty: heteroscedastic Gaussian NLL
(in nats per pier), compiled Adam step with inputs=/outputs=
state, early stopping on validation NLL that restores the best weights."""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(format="%(levelname)s scour %(message)s", level=logging.INFO)
log = logging.getLogger("scour")

rng = np.random.default_rng(5)


def gauge(n):
    velocity = rng.uniform(0.3, 3.0, n)       # m/s
    depth = rng.uniform(0.5, 8.0, n)          # flow depth m
    pier_w = rng.uniform(0.4, 2.5, n)         # m
    d50 = rng.lognormal(-1.0, 0.8, n)         # mm
    skew = rng.uniform(0, 30, n)              # degrees
    debris = rng.integers(0, 2, n).astype(np.float64)
    froude = velocity / np.sqrt(9.81 * depth)
    mean = 2.0 * pier_w * np.tanh(depth / pier_w) ** 0.5 * froude ** 0.43 * (1 + 0.015 * skew) * (1 + 0.3 * debris)
    mean = mean / (1 + 0.1 * np.log1p(d50))
    noise_sd = 0.05 + 0.12 * mean * (0.5 + debris)   # debris piers are harder to predict
    y = mean + rng.normal(0, 1, n) * noise_sd
    X = np.stack([velocity, depth, pier_w, np.log(d50), skew, debris], 1)
    return X.astype(np.float32), y.astype(np.float32), noise_sd


Xtr, ytr, _ = gauge(10000)
Xva, yva, sdva = gauge(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))


class ScourNet(nn.Module):
    def __init__(self, h=96):
        super().__init__()
        self.l1 = nn.Linear(6, h)
        self.l2 = nn.Linear(h, h)
        self.mean_head = nn.Linear(h, 1)
        self.logvar_head = nn.Linear(h, 1)

    def __call__(self, x):
        z = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.mean_head(z).squeeze(-1), self.logvar_head(z).squeeze(-1)


def gauss_nll(model, x, y):
    m, logvar = model(x)
    logvar = mx.clip(logvar, -9.0, 4.0)
    return mx.mean(0.5 * (logvar + (y - m) ** 2 * mx.exp(-logvar) + np.log(2 * np.pi)))


mx.random.seed(8)
model = ScourNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1.5e-3)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, gauss_nll)(model, x, y)
    opt.update(model, grads)
    return loss


def validate():
    m, logvar = model(Xva_m)
    nll = gauss_nll(model, Xva_m, yva_m)
    rmse = mx.sqrt(mx.mean((m - yva_m) ** 2))
    pred_sd = mx.exp(0.5 * mx.clip(logvar, -9.0, 4.0))
    inside = mx.mean(mx.abs(yva_m - m) <= 1.645 * pred_sd)
    mx.eval(nll, rmse, inside)
    return nll.item(), rmse.item(), 100 * inside.item()


oracle = float(np.mean(0.5 * np.log(2 * np.pi * sdva ** 2) + 0.5))
log.info("data train=%d val=%d target_mean=%.3fm oracle_val_nll=%.4f", len(ytr), len(yva), ytr.mean(), oracle)
v0 = validate()
log.info("untrained val_nll=%.4f val_rmse=%.3fm cover90=%.1f%%", *v0)

# eager gradient audit on the first batch before the compiled loop takes over
_, g0 = nn.value_and_grad(model, gauss_nll)(model, Xtr_m[:64], ytr_m[:64])
leaves = tree_flatten(g0)
log.info("grad_check leaves=%d zero=%s", len(leaves),
         [k for k, g in leaves if not mx.any(g != 0).item()] or "none")

best, best_epoch, best_params, patience, bad = float("inf"), 0, None, 4, 0
batch, t0 = 64, time.time()
for epoch in range(1, 41):
    perm = rng.permutation(len(ytr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - batch + 1, batch):
        idx = mx.array(perm[i:i + batch])
        loss = step(Xtr_m[idx], ytr_m[idx])
        mx.eval(state, loss)
        tot += loss.item()
        nb += 1
    vnll, vrmse, cover = validate()
    mark = ""
    if vnll < best - 1e-4:
        best, best_epoch, bad = vnll, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mark = " *best"
    else:
        bad += 1
    log.info("epoch=%d train_nll=%.4f val_nll=%.4f val_rmse=%.3fm cover90=%.1f%% secs=%.1f%s",
             epoch, tot / nb, vnll, vrmse, cover, time.time() - t0, mark)
    if bad >= patience:
        log.info("early_stop epoch=%d no improvement for %d epochs", epoch, patience)
        break

model.update(best_params)
mx.eval(model.parameters())
vnll, vrmse, cover = validate()
log.info("restored best_epoch=%d val_nll=%.4f (oracle %.4f) val_rmse=%.3fm cover90=%.1f%%",
         best_epoch, vnll, oracle, vrmse, cover)
