"""Tobit (left-censored at 0) regression of daily rainfall from weather-station
readings. The censored-likelihood term needs log Phi(a), which is unstable
(log of ~0, and a where() whose other branch has NaN grads) for very negative a,
so it is written as an mx.custom_function with its own VJP: pdf(a)/Phi(a).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_ndtr_fwd(a):
    # central part: log(0.5 * (1 + erf(a / sqrt2))), with a clamped so it is
    # never evaluated where 1+erf underflows; tail: asymptotic series
    a_mid = mx.maximum(a, -5.0)
    mid = mx.log(0.5 * (1.0 + mx.erf(a_mid / math.sqrt(2.0))))
    a_tail = mx.minimum(a, -5.0)
    a2 = a_tail * a_tail
    tail = (-0.5 * a2 - mx.log(-a_tail) - LOG_SQRT_2PI
            + mx.log(1.0 - 1.0 / a2 + 3.0 / (a2 * a2)))
    return mx.where(a > -5.0, mid, tail)


@mx.custom_function
def log_ndtr(a):
    return _log_ndtr_fwd(a)


@log_ndtr.vjp
def _log_ndtr_vjp(a, cotangent, out):
    # d/da log Phi(a) = phi(a) / Phi(a) = exp(log phi(a) - log Phi(a))
    log_pdf = -0.5 * a * a - LOG_SQRT_2PI
    return cotangent * mx.exp(log_pdf - out)


def make_station_data(n, rng):
    humidity = rng.uniform(0.2, 1.0, n)
    pressure_drop = rng.normal(0.0, 1.0, n)
    cloud = rng.uniform(0.0, 1.0, n)
    wind = rng.gamma(2.0, 1.0, n)
    doy = rng.uniform(0, 2 * np.pi, n)
    latent = (2.2 * humidity * cloud + 0.6 * pressure_drop - 0.15 * wind
              + 0.3 * np.sin(doy) - 0.4
              + 0.15 * rng.normal(size=n))
    rain = np.maximum(latent, 0.0)
    X = np.stack([humidity, pressure_drop, cloud, wind, np.sin(doy), np.cos(doy)], 1)
    return X.astype(np.float32), rain.astype(np.float32), latent.astype(np.float32)


class TobitNet(nn.Module):
    def __init__(self, d_in, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self.log_sigma = mx.array(0.0)  # shared noise scale, learned

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def tobit_nll(model, x, y):
    mu = model(x)
    sigma = mx.exp(model.log_sigma)
    censored = y <= 0.0
    z = (y - mu) / sigma
    nll_obs = model.log_sigma + 0.5 * z * z + LOG_SQRT_2PI
    nll_cens = -log_ndtr(-mu / sigma)
    return mx.where(censored, nll_cens, nll_obs).mean()


def main():
    rng = np.random.default_rng(7)
    Xtr, ytr, _ = make_station_data(6000, rng)
    Xva, yva, lat_va = make_station_data(1500, rng)
    mean, std = Xtr.mean(0), Xtr.std(0)
    Xtr = (Xtr - mean) / std
    Xva = (Xva - mean) / std
    print("dry days: train %.1f%%  valid %.1f%%" % (100 * (ytr <= 0).mean(), 100 * (yva <= 0).mean()))

    mx.random.seed(3)
    model = TobitNet(Xtr.shape[1])
    epochs, batch = 16, 64
    steps_per_epoch = len(Xtr) // batch
    lr = optim.cosine_decay(0.02, epochs * steps_per_epoch, end=5e-4)
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, tobit_nll)

    # first-step gradient check over every leaf
    xb, yb = mx.array(Xtr[:batch]), mx.array(ytr[:batch])
    _, g = loss_and_grad(model, xb, yb)
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print("grad check: %d leaves, zero-gradient leaves: %s" % (len(leaves), zero or "none"))

    Xva_m, yva_m = mx.array(Xva), mx.array(yva)
    print("%-6s %10s %10s %10s %9s %8s %6s" % ("epoch", "lr", "train_nll", "valid_nll", "rmse_lat", "sigma", "secs"))
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = loss_and_grad(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch % 2 == 0 or epoch == 1:
            vnll = tobit_nll(model, Xva_m, yva_m).item()
            mu = np.array(model(Xva_m))
            rmse = float(np.sqrt(np.mean((mu - lat_va) ** 2)))
            print("%-6d %10.2e %10.4f %10.4f %9.4f %8.4f %6.1f" % (
                epoch, opt.learning_rate.item(), tot / nb, vnll, rmse,
                math.exp(model.log_sigma.item()), time.time() - t0))

    mu = np.array(model(Xva_m))
    sig = math.exp(model.log_sigma.item())
    p_dry = 0.5 * (1 + np.vectorize(math.erf)(-mu / sig / math.sqrt(2)))
    print("predicted dry share %.1f%% vs observed %.1f%%" % (100 * p_dry.mean(), 100 * (yva <= 0).mean()))
    print("done")


if __name__ == "__main__":
    main()
