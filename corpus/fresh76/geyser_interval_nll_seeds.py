"""Geyser watch: predict the wait (min) to the next eruption with an uncertainty.

Heteroscedastic Gaussian head (mean + log-sigma), NLL in nats on the
standardised wait, a compiled step carrying model and optimizer state,
three seeds trained one after another from scratch.
"""
import math
import textwrap
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def make_log(n, rng):
    dur = np.where(rng.random(n) < 0.35, rng.normal(2.0, 0.3, n), rng.normal(4.3, 0.4, n))
    dur = np.clip(dur, 1.2, 5.5)                      # previous eruption duration (min)
    baro = rng.normal(0, 1, n)                        # barometric anomaly
    quake = rng.exponential(1.0, n)                   # local microseismic index
    season = rng.uniform(0, 2 * np.pi, n)
    wait = 33 + 11 * dur + 1.5 * baro - 2.0 * np.log1p(quake) + 1.2 * np.sin(season)
    noise_sd = 2.0 + 2.5 * (dur < 3.0) + 0.8 * quake  # short eruptions: less predictable
    wait = wait + rng.normal(0, 1, n) * noise_sd
    X = np.stack([dur, baro, quake, np.sin(season), np.cos(season)], 1).astype(np.float32)
    return X, wait.astype(np.float32)


class WaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.mean = nn.Linear(48, 1)
        self.logsig = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logsig(h).squeeze(-1), -6.0, 3.0)


def gaussian_nll(model, x, y):
    mu, ls = model(x)
    return mx.mean(ls + 0.5 * ((y - mu) * mx.exp(-ls)) ** 2 + 0.5 * math.log(2 * math.pi))


def run_seed(seed, data, y_mu, y_sd):
    Xtr, ytr, Xte, yte = data
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = WaitNet()
    opt = optim.Adam(learning_rate=2e-3)
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, gaussian_nll)

    _, g = vg(model, mx.array(Xtr[:128]), mx.array(ytr[:128]))
    flat = tree_flatten(g)
    nonzero = sum(float(mx.abs(v).max()) > 0 for _, v in flat)

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    def test_metrics():
        mu, ls = model(mx.array(Xte))
        nll = float(gaussian_nll(model, mx.array(Xte), mx.array(yte)))
        mu = np.array(mu) * y_sd + y_mu
        sig = np.exp(np.array(ls)) * y_sd
        y = yte * y_sd + y_mu
        cover = float(np.mean(np.abs(y - mu) <= 1.645 * sig) * 100)   # target: 90
        mae = float(np.mean(np.abs(y - mu)))
        return nll, cover, mae

    rows = [("init", float("nan"), *test_metrics())]
    t0 = time.time()
    bs = 100
    for epoch in range(1, 13):
        perm = rng.permutation(len(Xtr))
        losses = []
        for i in range(0, len(perm) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state, loss)
            losses.append(loss.item())
        if epoch in (1, 2, 4, 8, 12):
            rows.append((epoch, float(np.mean(losses)), *test_metrics()))
    return rows, len(flat), nonzero, time.time() - t0


def main():
    rng = np.random.default_rng(1870)
    Xtr, ytr = make_log(15000, rng)
    Xte, yte = make_log(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    ytr, yte = (ytr - y_mu) / y_sd, (yte - y_mu) / y_sd
    data = (Xtr, ytr, Xte, yte)
    print(f"geyser log: {len(Xtr)} train / {len(Xte)} test waits, "
          f"mean {y_mu:.1f} min, sd {y_sd:.1f} min")
    print("nll is in nats per eruption on the standardised wait; "
          "cover90 is the share of test waits inside the 90% band (aim: 90)")
    finals = []
    for seed in (0, 1, 2):
        rows, n_leaves, n_nonzero, secs = run_seed(seed, data, y_mu, y_sd)
        lines = [f"gradient leaves with signal at step 1: {n_nonzero}/{n_leaves}"]
        lines.append(f"{'epoch':>5} {'train_nll':>10} {'test_nll':>9} {'cover90':>8} {'mae_min':>8}")
        for ep, tr, te, cov, mae in rows:
            lines.append(f"{ep!s:>5} {tr:>10.4f} {te:>9.4f} {cov:>7.1f}% {mae:>8.2f}")
        lines.append(f"seed time {secs:.1f}s")
        print(f"seed {seed}:")
        print(textwrap.indent("\n".join(lines), "    "))
        finals.append(rows[-1])
    te = np.array([r[2] for r in finals]); cov = np.array([r[3] for r in finals])
    print(f"over seeds: test nll {te.mean():.4f} +- {te.std():.4f}, "
          f"cover90 {cov.mean():.1f}% +- {cov.std():.1f}")


if __name__ == "__main__":
    main()
