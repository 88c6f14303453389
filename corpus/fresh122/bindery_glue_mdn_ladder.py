"""Bookbinding workshop: how long until PVA glue sets on a spine, in minutes.

The grain direction of the sheet is not logged, and long-grain / short-grain
sheets set at clearly different speeds, so the answer is bimodal. We fit
mixture density networks with 1, 2 and 3 Gaussian components, one after the
other and each from scratch, and compare them on held-out sheets.
"""
import math
import time
from pprint import pprint

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LOG2PI = math.log(2 * math.pi)


def make_sheets(n, rng):
    humidity = rng.uniform(30, 80, n)          # % RH
    temp = rng.uniform(15, 28, n)              # deg C
    solids = rng.uniform(45, 60, n)            # glue solids %
    gsm = rng.uniform(80, 170, n)              # paper weight
    press = rng.uniform(0.5, 3.0, n)           # press pressure (bar)
    long_grain = rng.random(n) < 0.55          # hidden: never logged
    base = 6.0 + 0.09 * (humidity - 50) - 0.25 * (temp - 20) - 0.18 * (solids - 52)
    base += 0.015 * (gsm - 120) - 0.6 * np.log(press)
    minutes = np.where(long_grain, base, base * 1.55 + 2.0)
    minutes = minutes + rng.normal(0, 0.25, n) * (1 + 0.01 * (humidity - 30))
    x = np.stack([humidity, temp, solids, gsm, press], 1).astype(np.float32)
    return x, minutes.astype(np.float32)


class MDN(nn.Module):
    def __init__(self, n_in, k, width=64):
        super().__init__()
        self.k = k
        self.body = nn.Sequential(nn.Linear(n_in, width), nn.Tanh(),
                                  nn.Linear(width, width), nn.Tanh())
        if k > 1:  # a single component needs no mixing weights
            self.logits = nn.Linear(width, k)
        self.mu = nn.Linear(width, k)
        self.log_sigma = nn.Linear(width, k)

    def __call__(self, x):
        h = self.body(x)
        log_sig = mx.clip(self.log_sigma(h), -5.0, 3.0)
        mu = self.mu(h)
        logits = self.logits(h) if self.k > 1 else mx.zeros_like(mu)
        return logits, mu, log_sig


def mixture_nll(model, x, y):
    logits, mu, log_sig = model(x)
    log_pi = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    z = (y[:, None] - mu) / mx.exp(log_sig)
    comp = -0.5 * z * z - log_sig - 0.5 * LOG2PI
    return -mx.logsumexp(log_pi + comp, axis=1).mean()


def pit_ks(model, x, y):
    """KS distance of the probability integral transform from uniform."""
    logits, mu, log_sig = model(x)
    pi = mx.softmax(logits, axis=1)
    cdf = 0.5 * (1 + mx.erf((y[:, None] - mu) / (mx.exp(log_sig) * math.sqrt(2))))
    u = np.sort(np.array((pi * cdf).sum(axis=1)))
    grid = np.arange(1, len(u) + 1) / len(u)
    return float(np.max(np.abs(u - grid)))


def fit(k, data, epochs=30, batch=100, seed=0):
    xtr, ytr, xva, yva = data
    mx.random.seed(seed)
    model = MDN(xtr.shape[1], k)
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, epochs * (len(ytr) // batch), 1e-4),
                      weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, mixture_nll)

    # first-step gradient audit
    _, g = loss_and_grad(model, xtr[:batch], ytr[:batch])
    leaves = tree_flatten(g)
    dead = [n for n, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"  K={k}: {len(leaves)} parameter leaves, zero-gradient leaves: {dead or 'none'}")

    rng = np.random.default_rng(seed)
    steps = len(ytr) // batch
    history = []
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        order = mx.array(rng.permutation(len(ytr)))
        run = 0.0
        for i in range(steps):
            idx = order[i * batch:(i + 1) * batch]
            loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        if ep == 1 or ep % 5 == 0:
            val = mixture_nll(model, xva, yva).item()
            ks = pit_ks(model, xva, yva)
            history.append((ep, run / steps, val, ks))
            print(f"  K={k}  epoch {ep:2d}/{epochs}  train nll/sheet {run / steps:+.3f}"
                  f"  val nll/sheet {val:+.3f}  pit_ks {ks:.3f}  ({time.perf_counter() - t0:.1f}s)")
    return model, history


def main():
    rng = np.random.default_rng(11)
    x, y = make_sheets(7000, rng)
    xtr, ytr, xva, yva = x[:5600], y[:5600], x[5600:], y[5600:]
    mean, std = xtr.mean(0), xtr.std(0)
    ymean, ystd = ytr.mean(), ytr.std()
    norm = lambda a: mx.array((a - mean) / std)
    data = (norm(xtr), mx.array((ytr - ymean) / ystd), norm(xva), mx.array((yva - ymean) / ystd))
    print(f"sheets: {len(ytr)} train / {len(yva)} held out; set time {ymean:.2f} +- {ystd:.2f} min")
    print(f"single-Gaussian-by-the-mean baseline nll/sheet: {0.5 * (1 + LOG2PI):+.3f} (standardised units)")

    summary = {}
    for k in (1, 2, 3):
        print(f"-- mixture with {k} component{'s' if k > 1 else ''} --")
        model, hist = fit(k, data, seed=100 + k)
        ep, tr, val, ks = hist[-1]
        # convert to nats per sheet in minutes: subtract log(ystd)
        summary[f"K={k}"] = {"val_nll_std": round(val, 4),
                             "val_nll_minutes": round(val + math.log(float(ystd)), 4),
                             "pit_ks": round(ks, 4)}
    print("summary (held-out sheets):")
    pprint(summary)
    best = min(summary, key=lambda s: summary[s]["val_nll_std"])
    print(f"picked {best}")


if __name__ == "__main__":
    main()
