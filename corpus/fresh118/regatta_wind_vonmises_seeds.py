"""Regatta committee boat: forecast the wind direction at the windward mark
10 minutes ahead from readings at the start line. Circular target, so the
model predicts a von Mises (mu, kappa) and is trained on its NLL, which goes
negative once the predicted spread gets tight. Three seeds, each from scratch."""
import math
import time
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(name)-14s %(message)s")

M_TERMS = 48
LOG_FACT2 = mx.array([2.0 * math.lgamma(m + 1) for m in range(M_TERMS)])
MS = mx.arange(M_TERMS).astype(mx.float32)


def log_i0(log_kappa):
    # log I0(k) = logsumexp_m [2m log(k/2) - 2 log m!]
    t = 2.0 * MS * (log_kappa[..., None] - math.log(2.0)) - LOG_FACT2
    return mx.logsumexp(t, axis=-1)


def make_data(n, rng):
    shore = rng.uniform(0, 2 * np.pi, n)          # current direction at the line
    speed = rng.gamma(4.0, 3.0, n)                 # knots
    veer = rng.normal(0, 1, n)                     # veer rate trend
    temp_gap = rng.normal(2, 2, n)                 # sea/land temperature gap
    hour = rng.uniform(10, 17, n)
    drift = 0.35 * np.tanh(veer) + 0.04 * temp_gap * (hour - 13)
    kappa_true = 2.0 + 1.6 * speed
    noise = rng.vonmises(0.0, kappa_true)
    y = np.mod(shore + drift + noise, 2 * np.pi)
    x = np.stack([np.cos(shore), np.sin(shore), (speed - 12) / 6, veer,
                  (temp_gap - 2) / 2, (hour - 13.5) / 2], 1).astype(np.float32)
    return x, y.astype(np.float32)


class WindHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.direction = nn.Linear(64, 2)
        self.spread = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        d = self.direction(h)
        mu = mx.arctan2(d[:, 1], d[:, 0])
        log_kappa = mx.clip(self.spread(h)[:, 0], -3.0, 3.4)
        return mu, log_kappa


def vm_nll(model, x, y):
    mu, lk = model(x)
    nll = -mx.exp(lk) * mx.cos(y - mu) + math.log(2 * math.pi) + log_i0(lk)
    return nll.mean()


def angular_err_deg(model, x, y):
    mu, _ = model(x)
    d = np.angle(np.exp(1j * (np.array(y) - np.array(mu))))
    return np.degrees(np.abs(d))


def run_seed(seed, xtr, ytr, xva, yva):
    log = logging.getLogger(f"regatta.s{seed}")
    mx.random.seed(seed)
    model = WindHead()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    step = nn.value_and_grad(model, vm_nll)
    xv, yv = mx.array(xva), mx.array(yva)
    err0 = angular_err_deg(model, xv, yv)
    log.info("untrained  val_nll=%+.3f  mean_err=%.1f deg", vm_nll(model, xv, yv).item(), err0.mean())
    order_rng = np.random.default_rng(seed)
    n, bs = len(xtr), 128
    t0 = time.perf_counter()
    for ep in range(1, 9):
        perm = order_rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = step(model, mx.array(xtr)[idx], mx.array(ytr)[idx])
            if ep == 1 and i == 0:
                flat = tree_flatten(g)
                dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
                log.info("first step: %d grad leaves, zero: %s", len(flat), dead or "none")
            g, _ = optim.clip_grad_norm(g, 5.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        err = angular_err_deg(model, xv, yv)
        log.info("epoch %d  train_nll=%+.3f  val_nll=%+.3f  mean_err=%.1f deg  within_10deg=%.1f%%  %.1fs",
                 ep, tot / cnt, vm_nll(model, xv, yv).item(), err.mean(),
                 100.0 * (err < 10).mean(), time.perf_counter() - t0)
    return vm_nll(model, xv, yv).item(), err.mean()


def main():
    rng = np.random.default_rng(118)
    xtr, ytr = make_data(6000, rng)
    xva, yva = make_data(1500, rng)
    logging.getLogger("regatta").info("train %d  val %d  (log I0 via %d-term series)", len(xtr), len(xva), M_TERMS)
    res = [run_seed(s, xtr, ytr, xva, yva) for s in (0, 1, 2)]
    nll = np.array([r[0] for r in res]); err = np.array([r[1] for r in res])
    logging.getLogger("regatta").info("seeds=3  val_nll %+.3f +- %.3f  mean_err %.1f +- %.1f deg",
                                      nll.mean(), nll.std(), err.mean(), err.std())


if __name__ == "__main__":
    main()
