"""Predict final moisture content of kiln-dried oak boards, with an uncertainty.

Heteroscedastic Gaussian regression (mean + log-variance heads), Gaussian NLL
on the standardised target, compiled Adam step, early stopping on the
validation NLL that puts the best weights back before the test pass.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kiln")


def make_boards(n, rng):
    mc0 = rng.uniform(35, 80, n)            # green moisture content, %
    thick = rng.choice([19.0, 25.0, 32.0, 50.0], n)   # mm
    dens = rng.normal(690, 45, n)           # kg/m3
    temp = rng.uniform(45, 75, n)           # dry-bulb C
    rh = rng.uniform(25, 70, n)             # relative humidity %
    hours = rng.uniform(60, 400, n)
    emc = 2.0 + 0.18 * rh - 0.04 * (temp - 45)              # equilibrium MC
    k = 0.010 * (temp / 60.0) ** 1.5 * (25.0 / thick) ** 1.6 * (690.0 / dens)
    mc = emc + (mc0 - emc) * np.exp(-k * hours)
    noise_sd = 0.15 + 0.02 * thick          # thicker boards vary more
    mc = mc + rng.normal(0, 1, n) * noise_sd
    X = np.stack([mc0, thick, dens, temp, rh, np.log(hours)], 1)
    return X.astype(np.float32), mc.astype(np.float32)


class MeanVarNet(nn.Module):
    def __init__(self, d_in, hidden=96):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                   nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 5.0)


def gauss_nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    X, y = make_boards(12000, rng)
    idx = rng.permutation(len(y))
    tr, va, te = idx[:9000], idx[9000:10500], idx[10500:]
    xm, xs = X[tr].mean(0), X[tr].std(0)
    ym, ys = y[tr].mean(), y[tr].std()
    Xn = (X - xm) / xs
    yn = (y - ym) / ys
    Xtr, ytr = mx.array(Xn[tr]), mx.array(yn[tr])
    Xva, yva = mx.array(Xn[va]), mx.array(yn[va])
    Xte, yte = mx.array(Xn[te]), mx.array(yn[te])
    log.info("boards train=%d val=%d test=%d  target MC mean=%.2f%% sd=%.2f%%",
             len(tr), len(va), len(te), ym, ys)

    model = MeanVarNet(X.shape[1])
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    # first-step gradient audit
    _, g0 = nn.value_and_grad(model, gauss_nll)(model, Xtr[:128], ytr[:128])
    zero = [k for k, v in tree_flatten(g0) if float(mx.max(mx.abs(v))) == 0.0]
    log.info("grad check: %d leaves, zero-gradient leaves=%s", len(tree_flatten(g0)), zero)

    state = [model.state, opt.state]

    def step(x, t):
        loss, grads = nn.value_and_grad(model, gauss_nll)(model, x, t)
        opt.update(model, grads)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)

    best_val, best_epoch, best_w = float("inf"), -1, None
    patience, bad = 8, 0
    bs, t0 = 64, time.perf_counter()
    for epoch in range(1, 81):
        perm = mx.array(rng.permutation(len(tr)))
        tot, nb = 0.0, 0
        for i in range(0, len(tr) - bs + 1, bs):
            b = perm[i:i + bs]
            loss = step(Xtr[b], ytr[b])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        val_nll = gauss_nll(model, Xva, yva).item()
        mu, lv = model(Xva)
        rmse_pts = float(mx.sqrt(mx.mean((mu - yva) ** 2)).item()) * ys
        cover = float(mx.mean((mx.abs(mu - yva) < 1.96 * mx.exp(0.5 * lv)).astype(mx.float32)).item())
        improved = val_nll < best_val - 1e-4
        if improved:
            best_val, best_epoch, bad = val_nll, epoch, 0
            best_w = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
        log.info("epoch=%d train_nll=%.4f val_nll=%.4f val_rmse_mc_pts=%.3f pi95_cover=%.3f%s %.1fs",
                 epoch, tot / nb, val_nll, rmse_pts, cover, " *" if improved else "",
                 time.perf_counter() - t0)
        if bad >= patience:
            log.info("early stop at epoch %d (no val improvement for %d epochs)", epoch, patience)
            break

    model.update(best_w)
    mx.eval(model.parameters())
    test_nll = gauss_nll(model, Xte, yte).item()
    mu, lv = model(Xte)
    rmse = float(mx.sqrt(mx.mean((mu - yte) ** 2)).item()) * ys
    base = float(np.sqrt(np.mean((y[te] - ym) ** 2)))
    log.info("restored epoch %d weights (val_nll=%.4f); test_nll=%.4f test_rmse=%.3f MC pts "
             "(predict-the-mean %.3f)", best_epoch, best_val, test_nll, rmse, base)


if __name__ == "__main__":
    main()
