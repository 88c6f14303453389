"""Surrogate for M/M/c queue waiting times (Erlang C).

A SiLU MLP maps (arrival rate, service rate, number of servers) to the log of the
mean waiting time in queue. Training targets are exact Erlang-C values with
multiplicative 'measurement' noise (10%), so the train loss floors at the noise.
Progress is written as web-server access-log lines.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def erlang_c_wq(lam, mu, c):
    a = lam / mu
    rho = a / c
    s = sum(a ** k / math.factorial(k) for k in range(c))
    top = a ** c / math.factorial(c) / (1 - rho)
    pw = top / (s + top)
    return pw / (c * mu - lam)


def sample(n, rng):
    rows, ys = [], []
    while len(rows) < n:
        c = int(rng.integers(1, 9))
        mu = float(rng.uniform(0.5, 3.0))
        rho = float(rng.uniform(0.1, 0.95))
        lam = rho * c * mu
        rows.append([lam, mu, c])
        ys.append(erlang_c_wq(lam, mu, c))
    return np.array(rows, np.float32), np.array(ys, np.float64)


def features(raw):
    lam, mu, c = raw[:, 0], raw[:, 1], raw[:, 2]
    rho = lam / (c * mu)
    return np.stack([np.log(lam), np.log(mu), c / 8.0, rho, -np.log1p(-rho)], axis=1).astype(np.float32)


class Surrogate(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def access_line(path, status, fields):
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    body = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f'127.0.0.1 - trainer [{stamp}] "POST {path} HTTP/1.1" {status} - "{body}"', flush=True)


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    raw_tr, wq_tr = sample(6000, rng)
    raw_va, wq_va = sample(20000, rng)
    noisy = wq_tr * np.exp(rng.normal(0.0, 0.1, size=wq_tr.shape))
    Xtr, Ytr = mx.array(features(raw_tr)), mx.array(np.log(noisy).astype(np.float32))
    Xva, Yva = mx.array(features(raw_va)), mx.array(np.log(wq_va).astype(np.float32))

    model = Surrogate()
    mx.eval(model.parameters())
    loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)
    vg = nn.value_and_grad(model, loss_fn)

    _, g = vg(model, Xtr[:256], Ytr[:256])
    flat = tree_flatten(g)
    zero = sum(1 for _, v in flat if float(mx.abs(v).max()) == 0.0)
    access_line("/gradcheck", 200 if zero == 0 else 500, {"leaves": len(flat), "zero_grad_leaves": zero})
    base = float(((Yva - Ytr.mean()) ** 2).mean())
    access_line("/baseline", 200, {"predict_mean_val_mse": f"{base:.4f}", "noise_floor_train_mse": "0.0100"})

    bs, epochs = 64, 40
    total_steps = epochs * ((Xtr.shape[0] + bs - 1) // bs)
    opt = optim.RMSprop(learning_rate=optim.cosine_decay(2e-3, total_steps, 2e-5), alpha=0.99)
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, Xtr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch == 1 or epoch % 5 == 0:
            # full validation pass over 20k exact (noise-free) queues, in chunks
            se, ape = 0.0, 0.0
            for j in range(0, Xva.shape[0], 2000):
                p = model(Xva[j:j + 2000])
                se += float(((p - Yva[j:j + 2000]) ** 2).sum())
                ape += float(mx.abs(mx.exp(p - Yva[j:j + 2000]) - 1).sum())
            access_line(f"/epoch/{epoch}", 200, {
                "train_mse_log": f"{tot / nb:.4f}",
                "val_mse_log": f"{se / Xva.shape[0]:.4f}",
                "val_mape_pct": f"{100 * ape / Xva.shape[0]:.2f}",
                "lr": f"{opt.learning_rate.item():.2e}",
                "elapsed_s": f"{time.time() - t0:.1f}",
            })


if __name__ == "__main__":
    main()
