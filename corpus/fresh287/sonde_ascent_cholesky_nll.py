"""Radiosonde launch desk: joint forecast of a weather balloon's flight.

From five launch-sheet readings (fill mass, payload, surface temperature,
surface wind, jet-stream index) predict a joint Gaussian over
(burst altitude, mean ascent rate, horizontal drift) with a full covariance
given by a learned lower-triangular Cholesky factor.

Stage A: mean head only (MSE), the scale head held frozen.
Stage A weights go to a checkpoint; stage B loads them into a fresh model and
trains the full Gaussian negative log-likelihood, which goes below zero.
"""

import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LOG2PI = math.log(2.0 * math.pi)


def true_flight(f):
    fill, payload, temp, wind, jet = f.T
    burst = 28.0 + 3.0 * np.tanh(fill) - 1.5 * payload + 0.4 * temp
    ascent = 5.0 + 0.9 * fill - 0.6 * payload + 0.2 * np.sin(temp)
    drift = 40.0 + 12.0 * jet + 6.0 * wind + 2.0 * wind * jet
    mean = np.stack([burst, ascent, drift], axis=1)
    s_b = 0.8 + 0.1 * np.abs(payload)
    s_a = 0.25 + 0.05 * np.abs(fill)
    s_d = 3.0 + 2.5 * np.log1p(np.exp(jet + wind))
    n = len(f)
    L = np.zeros((n, 3, 3))
    L[:, 0, 0] = s_b
    L[:, 1, 0] = 0.6 * s_a
    L[:, 1, 1] = 0.8 * s_a
    L[:, 2, 0] = -0.3 * s_d
    L[:, 2, 2] = math.sqrt(1 - 0.09) * s_d
    return mean, L


def simulate(rng, n):
    f = rng.standard_normal((n, 5))
    mean, L = true_flight(f)
    L = 0.4 * L
    z = rng.standard_normal((n, 3, 1))
    y = mean + (L @ z)[..., 0]
    return f.astype(np.float32), y.astype(np.float32), mean, L


class FlightNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.SiLU(),
                                   nn.Linear(64, 64), nn.SiLU())
        self.mean = nn.Linear(64, 3)
        self.chol = nn.Linear(64, 6)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h), self.chol(h)


def unpack(raw):
    d0 = nn.softplus(raw[:, 0]) + 1e-3
    d1 = nn.softplus(raw[:, 1]) + 1e-3
    d2 = nn.softplus(raw[:, 2]) + 1e-3
    return d0, d1, d2, raw[:, 3], raw[:, 4], raw[:, 5]


def gaussian_nll(mu, raw, y):
    d0, d1, d2, l10, l20, l21 = unpack(raw)
    r = y - mu
    z0 = r[:, 0] / d0
    z1 = (r[:, 1] - l10 * z0) / d1
    z2 = (r[:, 2] - l20 * z0 - l21 * z1) / d2
    quad = z0 * z0 + z1 * z1 + z2 * z2
    logdet = mx.log(d0) + mx.log(d1) + mx.log(d2)
    return mx.mean(0.5 * quad + logdet + 1.5 * LOG2PI)


def mse(mu, y):
    return mx.mean(mx.sum((mu - y) ** 2, axis=-1))


def reference_nll(y_std, mean, L, ysd, ymu):
    m = (mean - ymu) / ysd
    Ls = L / ysd[None, :, None]
    r = y_std - m
    z = np.linalg.solve(Ls, r[..., None])[..., 0]
    logdet = np.log(np.abs(np.diagonal(Ls, axis1=1, axis2=2))).sum(1)
    return float(np.mean(0.5 * (z ** 2).sum(1) + logdet + 1.5 * LOG2PI))


def batches(rng, n, bs):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs].astype(np.int32))


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    ftr, ytr, _, _ = simulate(rng, 12000)
    fva, yva, mva, Lva = simulate(rng, 3000)
    ymu, ysd = ytr.mean(0), ytr.std(0)
    Xtr, Ytr = mx.array(ftr), mx.array((ytr - ymu) / ysd)
    Xva, Yva = mx.array(fva), mx.array((yva - ymu) / ysd)
    floor = reference_nll((yva - ymu) / ysd, mva, Lva, ysd, ymu)

    print(f"launch desk: {len(ytr)} archived flights, {len(yva)} held out; "
          "targets standardised (burst km, ascent m/s, drift km)")
    print(f"reference NLL of the generating law on held-out flights: {floor:.3f} nats")

    # ---- stage A: means only, scale head frozen ----
    model = FlightNet()
    model.chol.freeze()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    chol_before = np.array(model.chol.weight)

    def loss_a(m, x, y):
        mu, _ = m(x)
        return mse(mu, y)

    vg_a = nn.value_and_grad(model, loss_a)
    t0 = time.perf_counter()
    for ep in range(1, 5):
        run, k = 0.0, 0
        for idx in batches(rng, len(ytr), 128):
            loss, g = vg_a(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            k += 1
    mu, _ = model(Xva)
    print(f"stage A after 4 epochs: train mse {run / k:.3f}, val mse {mse(mu, Yva).item():.3f} "
          f"(sum over 3 standardised targets), scale head change "
          f"{np.abs(np.array(model.chol.weight) - chol_before).max():.1f}, "
          f"{time.perf_counter() - t0:.1f}s")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stage_a.safetensors")
        model.save_weights(path)
        print(f"checkpoint: {len(tree_flatten(model.parameters()))} tensors "
              f"-> {os.path.basename(path)}")
        del model, opt

        # ---- stage B: fresh model, resume weights, full Gaussian NLL ----
        model = FlightNet()
        model.load_weights(path)
    mx.eval(model.parameters())
    mu, raw = model(Xva)
    print(f"resumed: val mse {mse(mu, Yva).item():.3f}, val NLL {gaussian_nll(mu, raw, Yva).item():.3f}")

    steps_b = 12 * (len(ytr) // 128)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, 100),
         optim.cosine_decay(1e-3, steps_b - 100, 2e-5)], [100])
    opt = optim.Adam(learning_rate=sched)

    def loss_b(m, x, y):
        mu, raw = m(x)
        return gaussian_nll(mu, raw, y)

    vg_b = nn.value_and_grad(model, loss_b)
    for ep in range(1, 13):
        run, k = 0.0, 0
        for idx in batches(rng, len(ytr), 128):
            loss, g = vg_b(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            k += 1
        if ep % 4 == 0:
            mu, raw = model(Xva)
            d0, d1, d2, l10, l20, l21 = unpack(raw)
            corr_ad = mx.mean(l10 / mx.sqrt(l10 * l10 + d1 * d1)).item()
            print(f"stage B epoch {ep:2d} | lr {float(opt.learning_rate):.2e} | "
                  f"train NLL {run / k:+.3f} | val NLL {gaussian_nll(mu, raw, Yva).item():+.3f} "
                  f"(reference {floor:+.3f}) | val mse {mse(mu, Yva).item():.3f} | "
                  f"mean burst/ascent corr {corr_ad:+.2f} | {time.perf_counter() - t0:.1f}s")

    mu, raw = model(Xva)
    d0, d1, d2, l10, l20, l21 = unpack(raw)
    pred_sd_drift = mx.sqrt(l20 * l20 + l21 * l21 + d2 * d2) * float(ysd[2])
    true_sd_drift = np.sqrt((Lva[:, 2, :] ** 2).sum(1))
    print(f"drift spread: predicted mean sd {pred_sd_drift.mean().item():.2f} km, "
          f"generating law {true_sd_drift.mean():.2f} km")
    print("flight desk model ready")


if __name__ == "__main__":
    main()
