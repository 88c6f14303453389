"""Sugarbush sap-flow forecast: a deep ensemble of Gaussian regressors.

Daily sap flow (litres per tap) from the overnight low, daytime high, snow depth,
tree diameter, days since tapping and a sunny-day flag. Each of 4 members is a
fresh network trained from scratch on its own bootstrap resample, one after the
other, with a hand-written Nesterov-momentum SGD over the parameter tree.
The objective is the Gaussian negative log-likelihood in nats (it goes below 0
once the predicted spread is small). The skill printed is the CRPS skill score
against climatology: 0 = no better than climatology, 1 = perfect (higher is better).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

N_MEMBERS = 4
EPOCHS = 32
BATCH = 64
LR = 0.006
LR_MIN = 0.0003
MOMENTUM = 0.9


def simulate(n, rng):
    low = rng.normal(-4.0, 4.0, n)
    high = low + rng.uniform(2.0, 14.0, n)
    snow = np.clip(rng.normal(40.0, 20.0, n), 0.0, None)
    dbh = rng.uniform(20.0, 60.0, n)
    days = rng.uniform(0.0, 50.0, n)
    sunny = (rng.random(n) < 0.45).astype(np.float64)
    freeze = 1.0 / (1.0 + np.exp(low / 1.5))
    thaw = 1.0 / (1.0 + np.exp(-(high - 3.0) / 1.5))
    mean = 1.9 * freeze * thaw * (dbh / 35.0) ** 0.8 * np.exp(-days / 45.0) * (1.0 + 0.3 * sunny) * (1.0 + 0.002 * snow)
    sd = 0.04 + 0.12 * mean
    y = mean + sd * rng.normal(size=n)
    x = np.stack([low, high, snow, dbh, days, sunny], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


class SapNet(nn.Module):
    def __init__(self, d_in=6, width=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 2)

    def __call__(self, x):
        out = self.head(self.body(x))
        return out[:, 0], mx.clip(out[:, 1], -8.0, 3.0)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return (0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi))).mean()


class NesterovSGD:
    """v <- m v + g ;  p <- p - lr (g + m v), applied leaf by leaf with tree_map."""

    def __init__(self, lr, momentum):
        self.lr, self.momentum = lr, momentum
        self.velocity = None

    def step(self, model, grads):
        if self.velocity is None:
            self.velocity = tree_map(mx.zeros_like, grads)
        m, lr = self.momentum, self.lr
        self.velocity = tree_map(lambda v, g: m * v + g, self.velocity, grads)
        new_params = tree_map(lambda p, g, v: p - lr * (g + m * v), model.trainable_parameters(), grads, self.velocity)
        model.update(new_params)


def gauss_crps(mu, sd, y):
    z = (y - mu) / sd
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return sd * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))


def predict(model, x):
    mu, logvar = model(x)
    return np.array(mu), np.sqrt(np.exp(np.array(logvar)))


def main():
    rng = np.random.default_rng(2024)
    x_tr, y_tr = simulate(5000, rng)
    x_va, y_va = simulate(1500, rng)
    x_mean, x_std = x_tr.mean(0), x_tr.std(0)
    x_tr = (x_tr - x_mean) / x_std
    x_va = (x_va - x_mean) / x_std
    clim_crps = gauss_crps(y_tr.mean(), y_tr.std(), y_va).mean()
    xv, yv = mx.array(x_va), mx.array(y_va)
    print(f"sugarbush sap flow: {len(y_tr)} train days, {len(y_va)} validation days; "
          f"mean flow {y_tr.mean():.3f} L/tap, climatology CRPS {clim_crps:.4f} L")
    print(f"{'member':>7} {'epoch':>5} {'train_nll':>10} {'val_nll':>9} {'val_rmse_L':>10} {'crpss':>7} {'secs':>6}")

    members = []
    t0 = time.time()
    for k in range(N_MEMBERS):
        mx.random.seed(100 + k)
        boot = rng.integers(0, len(y_tr), size=len(y_tr))
        xb, yb = mx.array(x_tr[boot]), mx.array(y_tr[boot])
        model = SapNet()
        mx.eval(model.parameters())
        opt = NesterovSGD(LR, MOMENTUM)
        loss_and_grad = nn.value_and_grad(model, gaussian_nll)

        _, g0 = loss_and_grad(model, xb[:512], yb[:512])
        flat = tree_flatten(g0)
        n_zero = sum(float(mx.abs(g).max().item()) == 0.0 for _, g in flat)
        print(f"  member {k + 1}: fresh weights, bootstrap of {len(boot)} rows, "
              f"{len(flat)} parameter leaves, {n_zero} with an all-zero first gradient")

        for epoch in range(1, EPOCHS + 1):
            # cosine decay of the step size over each member's epochs, computed by hand
            opt.lr = LR_MIN + 0.5 * (LR - LR_MIN) * (1.0 + math.cos(math.pi * (epoch - 1) / EPOCHS))
            perm = mx.array(rng.permutation(len(boot)))
            total, count = 0.0, 0
            for i in range(0, len(boot), BATCH):
                idx = perm[i : i + BATCH]
                loss, grads = loss_and_grad(model, xb[idx], yb[idx])
                opt.step(model, grads)
                mx.eval(model.parameters(), opt.velocity, loss)
                total += loss.item() * idx.shape[0]
                count += idx.shape[0]
            if epoch in (1, 2, 4) or epoch % 8 == 0:
                mu, sd = predict(model, xv)
                val_nll = gaussian_nll(model, xv, yv).item()
                rmse = float(np.sqrt(np.mean((mu - y_va) ** 2)))
                crpss = 1.0 - gauss_crps(mu, sd, y_va).mean() / clim_crps
                print(f"{k + 1:>5}/{N_MEMBERS} {epoch:>5} {total / count:>10.4f} {val_nll:>9.4f} "
                      f"{rmse:>10.4f} {crpss:>7.3f} {time.time() - t0:>6.1f}")
        members.append(model)

    # ensemble: moment-matched mixture of the members' Gaussians
    mus, sds = zip(*(predict(m, xv) for m in members))
    mus, sds = np.stack(mus), np.stack(sds)
    mix_mu = mus.mean(0)
    mix_sd = np.sqrt((sds ** 2 + mus ** 2).mean(0) - mix_mu ** 2)
    ens_nll = float(np.mean(0.5 * (np.log(2 * math.pi * mix_sd ** 2) + (y_va - mix_mu) ** 2 / mix_sd ** 2)))
    ens_rmse = float(np.sqrt(np.mean((mix_mu - y_va) ** 2)))
    ens_crpss = 1.0 - gauss_crps(mix_mu, mix_sd, y_va).mean() / clim_crps
    cover = float(np.mean(np.abs(y_va - mix_mu) <= 1.645 * mix_sd)) * 100.0
    print(f"ensemble of {N_MEMBERS}: val_nll {ens_nll:.4f}  val_rmse {ens_rmse:.4f} L  crpss {ens_crpss:.3f}  "
          f"90% interval coverage {cover:.1f}%  total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
