"""Forecast tomorrow's water-table depth in a raised peat bog from a 14-day
window of dipwell readings, with a tiny self-attention encoder.

Training: SGD with Nesterov momentum, a cosine phase, then a constant-lr
phase during which we keep a stochastic weight average (SWA) of the weights.
At the end we compare the last iterate with the averaged weights.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

WINDOW = 14
FEATS = 5  # depth (cm, scaled), rain mm, evapotranspiration, air temp, drain flow


def simulate_bog(n_days, rng):
    """Made-up bog hydrology: depth follows rain minus ET with a slow drain."""
    doy = np.arange(n_days) % 365
    temp = 9 + 7 * np.sin(2 * np.pi * (doy - 110) / 365) + rng.normal(0, 2.0, n_days)
    et = np.clip(0.4 + 0.18 * temp + rng.normal(0, 0.3, n_days), 0, None)
    wet = rng.random(n_days) < 0.45
    rain = np.where(wet, rng.gamma(1.6, 4.0, n_days), 0.0)
    depth = np.zeros(n_days)
    flow = np.zeros(n_days)
    d = 12.0
    for t in range(n_days):
        recharge = 0.55 * rain[t] - 0.9 * et[t]
        flow[t] = 0.08 * max(0.0, 30 - d)
        d = np.clip(d - recharge + flow[t] * 0.4 + 0.15 * (d - 12) * 0.1, 0, 60)
        depth[t] = d + rng.normal(0, 0.3)
    X = np.stack([depth, rain, et, temp, flow], axis=1).astype(np.float32)
    return X


def make_windows(series):
    xs, ys = [], []
    for t in range(WINDOW, len(series) - 1):
        xs.append(series[t - WINDOW:t])
        ys.append(series[t, 0])
    return np.stack(xs), np.array(ys, dtype=np.float32)


class DipwellEncoder(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.inp = nn.Linear(FEATS, dim)
        self.pos = nn.Embedding(WINDOW, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff1 = nn.Linear(dim, 2 * dim)
        self.ff2 = nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, 1)

    def __call__(self, x):
        h = self.inp(x) + self.pos(mx.arange(WINDOW))
        a = self.norm1(h)
        h = h + self.attn(a, a, a)
        h = h + self.ff2(nn.gelu(self.ff1(self.norm2(h))))
        return self.head(h[:, -1, :]).squeeze(-1)


def mse_loss(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model, x, y, y_sd):
    pred = model(x)
    mx.eval(pred)
    err = (np.array(pred) - np.array(y)) * y_sd
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err)))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    series = simulate_bog(3400, rng)
    X, y = make_windows(series)
    n_tr = 2600
    mu = X[:n_tr].reshape(-1, FEATS).mean(0)
    sd = X[:n_tr].reshape(-1, FEATS).std(0) + 1e-6
    y_mu, y_sd = float(mu[0]), float(sd[0])
    Xs = (X - mu) / sd
    ys = (y - y_mu) / y_sd
    x_tr, y_tr = mx.array(Xs[:n_tr]), mx.array(ys[:n_tr])
    x_va, y_va = mx.array(Xs[n_tr:]), mx.array(ys[n_tr:])
    persist = np.sqrt(np.mean((X[n_tr:, -1, 0] - y[n_tr:]) ** 2))
    print(f"bog series: {len(series)} days, windows train={n_tr} val={len(ys) - n_tr}")
    print(f"persistence baseline (tomorrow = today): val RMSE {persist:.2f} cm")

    model = DipwellEncoder()
    mx.eval(model.parameters())

    epochs, swa_start, batch = 14, 9, 64
    steps_per_epoch = n_tr // batch
    cos_steps = swa_start * steps_per_epoch
    base_lr, swa_lr = 0.05, 0.01
    sched = optim.join_schedules(
        [optim.cosine_decay(base_lr, cos_steps, swa_lr), lambda _: swa_lr],
        [cos_steps],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, mse_loss)

    # gradient check on the first batch
    _, g0 = loss_and_grad(model, x_tr[:batch], y_tr[:batch])
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(f"first-batch gradients: {len(flat)} arrays, all-zero: {dead if dead else 'none'}")

    swa_params, swa_count = None, 0
    t0 = time.time()
    print(f"{'epoch':>5} {'lr':>8} {'train mse(std)':>15} {'val rmse cm':>12} {'val mae cm':>11} {'swa n':>6}")
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(n_tr)
        tot, nb = 0.0, 0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * batch:(i + 1) * batch])
            loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch > swa_start:
            cur = model.trainable_parameters()
            if swa_params is None:
                swa_params = tree_map(lambda p: mx.array(p), cur)
            else:
                swa_params = tree_map(
                    lambda a, p: a + (p - a) / (swa_count + 1), swa_params, cur
                )
            mx.eval(swa_params)
            swa_count += 1
        rmse, mae = evaluate(model, x_va, y_va, y_sd)
        lr_now = opt.learning_rate.item()
        print(f"{epoch:>5} {lr_now:>8.4f} {tot / nb:>15.4f} {rmse:>12.2f} {mae:>11.2f} {swa_count:>6}")

    last_rmse, last_mae = evaluate(model, x_va, y_va, y_sd)
    model.update(swa_params)
    # LayerNorm has no running statistics, so no BN re-estimation pass is needed
    swa_rmse, swa_mae = evaluate(model, x_va, y_va, y_sd)
    print(f"last iterate : val RMSE {last_rmse:.2f} cm, MAE {last_mae:.2f} cm")
    print(f"SWA ({swa_count} snapshots): val RMSE {swa_rmse:.2f} cm, MAE {swa_mae:.2f} cm")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
