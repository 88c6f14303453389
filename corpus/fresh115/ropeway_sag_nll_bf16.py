"""Ropeway (cable-car) haul-rope sag: heteroscedastic regression.

Predict mid-span sag (metres) of a haul rope from span length, rope tension,
air temperature, ice load and car occupancy.  The model outputs a mean and a
log-variance and is trained with the Gaussian negative log-likelihood, so the
loss goes negative once the fit is good.  Forward/backward run in bfloat16,
the master weights and the optimizer stay float32.  We go through
mx.distributed (single process here: all_sum over a group of one) so the
same script runs on several machines later.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("ropeway")


def make_spans(n, rng):
    span = rng.uniform(80.0, 420.0, n)            # m
    tension = rng.uniform(60.0, 180.0, n)         # kN
    temp = rng.normal(5.0, 9.0, n)                # deg C
    ice = np.clip(rng.gamma(1.2, 0.6, n) * (temp < 2), 0, 4)   # kg/m, only when cold
    occ = rng.integers(0, 9, n).astype(np.float64)             # passengers on span
    w = 0.9 + 0.25 * ice + 0.02 * occ             # effective weight per metre, kg/m ~
    sag = w * 9.81e-3 * span ** 2 / (8.0 * tension) * (1 + 0.0012 * (temp - 5.0))
    noise_sd = 0.04 + 0.06 * ice + 0.002 * span / 10.0   # icing makes readings noisy
    sag = sag + rng.normal(0, 1, n) * noise_sd
    X = np.stack([span / 400.0, tension / 150.0, temp / 10.0, ice, occ / 8.0], 1)
    return X.astype(np.float32), sag.astype(np.float32)[:, None]


class SagNet(nn.Module):
    def __init__(self, d_in=5, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mu = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.mu(h), mx.clip(self.logvar(h), -9.0, 4.0)


BF16_COPY = SagNet()


def gaussian_nll(model, x, y):
    # compute in bf16 on a bf16 copy of the inputs; the cast of the float32
    # master weights happens inside so gradients land back in float32
    params16 = tree_map(lambda p: p.astype(mx.bfloat16), model.parameters())
    model16 = BF16_COPY  # built once: a new SagNet() per call draws from the global random key
    model16.update(params16)
    mu, logvar = model16(x.astype(mx.bfloat16))
    mu = mu.astype(mx.float32)
    logvar = logvar.astype(mx.float32)
    nll = 0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi))
    return nll.mean()


def main():
    group = mx.distributed.init()
    world = group.size()
    rng = np.random.default_rng(7 + group.rank())
    Xtr, ytr = make_spans(6000, rng)
    Xva, yva = make_spans(1500, np.random.default_rng(99))
    y_scale = float(ytr.std())
    log.info("rank %d of %d, %d train spans, sag std %.3f m", group.rank(), world, len(Xtr), y_scale)

    mx.random.seed(3)
    model = SagNet()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=3e-3)

    loss_and_grad = nn.value_and_grad(model, gaussian_nll)

    def all_reduce(grads):
        return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)

    Xva_m, yva_m = mx.array(Xva), mx.array(yva / y_scale)
    bs, steps, every = 128, 1200, 150
    ema, beta = 0.0, 0.95
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(Xtr), bs)
        xb, yb = mx.array(Xtr[idx]), mx.array(ytr[idx] / y_scale)
        loss, grads = loss_and_grad(model, xb, yb)
        grads = all_reduce(grads)
        if step == 1:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            dtypes = {str(v.dtype) for _, v in tree_flatten(model.parameters())}
            log.info("step-1 grads: %d leaves, zero leaves: %s, master dtype %s",
                     len(flat), dead or "none", ",".join(sorted(dtypes)))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema = beta * ema + (1 - beta) * loss.item()        # zero-initialised EMA ...
        ema_hat = ema / (1 - beta ** step)                  # ... with bias correction
        if step % every == 0 or step == 1:
            mu, logvar = model(Xva_m)
            val_nll = gaussian_nll(model, Xva_m, yva_m).item()
            rmse_cm = 100 * y_scale * mx.sqrt(((mu - yva_m) ** 2).mean()).item()
            sd_cm = 100 * y_scale * mx.exp(0.5 * logvar).mean().item()
            log.info("step %4d  nll_ema(debiased) %+.3f  val_nll %+.3f  val_rmse %.1f cm  "
                     "mean_pred_sd %.1f cm  (%.1fs)", step, ema_hat, val_nll, rmse_cm, sd_cm,
                     time.time() - t0)
    log.info("done: val NLL is in units of log(sag/%.3f m); negative is good", y_scale)


if __name__ == "__main__":
    main()
