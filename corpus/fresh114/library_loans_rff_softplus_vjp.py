"""Branch library: daily loans per shelf section (count data, Poisson).

Inputs go through a FIXED random Fourier feature map (frozen on purpose: it is
a kernel approximation, not something to learn), then a small MLP.  The rate
link is a softplus written with mx.custom_function and its own vjp.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


@mx.custom_function
def softplus_rate(x):
    return mx.logaddexp(x, mx.zeros_like(x))


@softplus_rate.vjp
def softplus_rate_vjp(x, cotangent, output):
    # single input: MLX hands over the primal itself, not a tuple
    return cotangent * mx.sigmoid(x)


class RFF(nn.Module):
    def __init__(self, d_in, n_feat, scale, seed):
        super().__init__()
        key = mx.random.key(seed)
        k1, k2 = mx.random.split(key)
        self.omega = mx.random.normal((d_in, n_feat), key=k1) / scale
        self.phase = mx.random.uniform(0, 2 * np.pi, (n_feat,), key=k2)

    def __call__(self, x):
        return mx.cos(x @ self.omega + self.phase) * (2.0 / self.omega.shape[1]) ** 0.5


class LoanModel(nn.Module):
    def __init__(self, d_in, n_feat=128, hidden=48):
        super().__init__()
        self.rff = RFF(d_in, n_feat, scale=1.5, seed=3)
        self.rff.freeze()
        self.fc1 = nn.Linear(n_feat + d_in, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = mx.concatenate([self.rff(x), x], axis=-1)
        h = nn.gelu(self.fc1(h))
        return softplus_rate(self.out(h).squeeze(-1)) + 1e-4


def simulate(n, rng):
    dow = rng.integers(0, 7, n)
    section = rng.integers(0, 6, n)
    rain = rng.uniform(0, 1, n)
    school_term = rng.integers(0, 2, n)
    new_titles = rng.poisson(3, n)
    hour_open = rng.uniform(6, 11, n)
    base = np.array([2.0, 3.5, 1.2, 5.0, 0.8, 2.5])[section]
    rate = base * (1 + 0.6 * np.sin(2 * np.pi * dow / 7)) * (1 + 0.5 * rain) \
        * (1 + 0.8 * school_term * (section == 3)) * (1 + 0.08 * new_titles) * hour_open / 8
    y = rng.poisson(rate)
    x = np.stack([np.sin(2 * np.pi * dow / 7), np.cos(2 * np.pi * dow / 7), section / 5.0,
                  rain, school_term, new_titles / 3.0, (hour_open - 8.5) / 1.5,
                  (section == 3).astype(float)], 1)
    return x.astype(np.float32), y.astype(np.float32)


def poisson_nll(model, x, y):
    mu = model(x)
    return mx.mean(mu - y * mx.log(mu))


def deviance(mu, y):
    term = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-8) / mu), 0.0)
    return 2 * mx.sum(term - (y - mu))


def bar(i, n, loss, width=28):
    k = int(width * i / n)
    sys.stdout.write(f"\r  [{'#' * k}{'.' * (width - k)}] {i:4d}/{n}  batch nll {loss:7.4f}")
    sys.stdout.flush()


def main():
    rng = np.random.default_rng(2114)
    xtr, ytr = simulate(12000, rng)
    xte, yte = simulate(3000, rng)
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xte, Yte = mx.array(xte), mx.array(yte)
    null_dev = deviance(mx.full(Yte.shape, float(ytr.mean())), Yte).item()
    print(f"sections x days: train {len(ytr)}  test {len(yte)}  mean loans/day {ytr.mean():.2f}")

    mx.random.seed(0)
    model = LoanModel(xtr.shape[1])
    mx.eval(model.parameters())
    frozen_before = np.array(model.rff.omega)
    vg = nn.value_and_grad(model, poisson_nll)

    _, g = vg(model, Xtr[:256], Ytr[:256])
    leaves = tree_flatten(g)
    print("trainable leaves:", ", ".join(f"{k}{'(ZERO)' if not mx.any(v != 0).item() else ''}" for k, v in leaves))
    assert all(mx.any(v != 0).item() for _, v in leaves)

    bs, epochs = 96, 8
    spe = len(ytr) // bs
    warm = spe  # one epoch of warm-up starting from lr 0
    lr = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                               optim.cosine_decay(3e-3, spe * (epochs - 1), 1e-4)], [warm])
    opt = optim.RMSprop(learning_rate=lr, alpha=0.95)

    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        run = 0.0
        for i in range(spe):
            idx = mx.array(perm[i * bs:(i + 1) * bs])
            loss, g = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            if (i + 1) % 5 == 0 or i + 1 == spe:
                bar(i + 1, spe, loss.item())
        sys.stdout.write("\r" + " " * 72 + "\r")
        mu = model(Xte)
        dev = deviance(mu, Yte).item()
        mae = mx.mean(mx.abs(mu - Yte)).item()
        print(f"epoch {ep}/{epochs}  lr {opt.learning_rate.item():.2e}  train nll(log y! dropped) {run / spe:.4f}  "
              f"test mean deviance {dev / len(yte):.4f}  deviance explained {100 * (1 - dev / null_dev):5.1f}%  "
              f"MAE {mae:.3f} loans  ({time.time() - t0:.1f}s)")

    drift = float(np.abs(np.array(model.rff.omega) - frozen_before).max())
    print(f"finished; frozen Fourier map max change {drift:.1f}")


if __name__ == "__main__":
    main()
