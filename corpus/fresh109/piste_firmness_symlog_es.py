"""Snow-cat grooming log: predict next-morning piste softness.

Target: ram-penetration depth in cm (a deeper ram = a softer piste) measured at
08:00 on a groomed run, from six overnight readings.  The numbers come from a
made-up law below, not from a real resort.

Model: small MLP whose hidden activation is a symmetric log, written as an
mx.custom_function with its own VJP.  Optimiser: hand-written Nesterov SGD over
the parameter tree, with a linear warm-up that starts at lr = 0, then a cosine
decay.  Early stopping on validation MAPE restores the best weights at the end.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s piste: %(message)s")
log = logging.getLogger("piste")

FEATURES = ["min_temp_c", "hours_since_groom", "new_snow_cm", "wind_ms",
            "skier_passes_k", "rel_humidity"]


def make_runs(n, rng):
    temp = rng.uniform(-18.0, 3.0, n)
    hours = rng.uniform(0.5, 10.0, n)
    snow = rng.gamma(1.2, 5.0, n)
    wind = rng.gamma(2.0, 2.5, n)
    passes = rng.uniform(0.0, 6.0, n)
    hum = rng.uniform(35.0, 100.0, n)
    # softer when warm, fresh snow and little sintering time; wind packs it
    depth = (4.0
             + 1.1 * snow * np.exp(0.07 * temp)
             + 9.0 / (1.0 + np.exp(-(temp + 1.5))) * (hum / 100.0)
             + 6.0 * np.exp(-hours / 2.5)
             - 0.35 * wind
             + 0.8 * passes * (temp > -4))
    depth = np.clip(depth, 1.5, None) * np.exp(rng.normal(0.0, 0.08, n))
    X = np.stack([temp, hours, snow, wind, passes, hum], axis=1).astype(np.float32)
    return X, depth.astype(np.float32)


@mx.custom_function
def symlog(x):
    return mx.sign(x) * mx.log1p(mx.abs(x))


@symlog.vjp
def symlog_vjp(x, cotangent, output):
    # one input, one output: MLX hands the arrays over unwrapped
    return cotangent / (1.0 + mx.abs(x))


class SoftnessNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = symlog(self.l1(x))
        h = symlog(self.l2(h))
        return self.out(h).squeeze(-1)


class NesterovSGD:
    """Plain Nesterov momentum, kept as a tree of buffers beside the model."""

    def __init__(self, params, momentum=0.9, weight_decay=1e-5):
        self.mu = momentum
        self.wd = weight_decay
        self.buf = tree_map(mx.zeros_like, params)

    def step(self, params, grads, lr):
        grads = tree_map(lambda g, p: g + self.wd * p, grads, params)
        self.buf = tree_map(lambda b, g: self.mu * b + g, self.buf, grads)
        look = tree_map(lambda g, b: g + self.mu * b, grads, self.buf)
        return tree_map(lambda p, d: p - lr * d, params, look)


def lr_at(step, total, peak=0.05, warm=150):
    if step < warm:
        return peak * step / warm          # step 0 -> lr 0 on purpose
    t = (step - warm) / max(1, total - warm)
    return 0.5 * peak * (1.0 + math.cos(math.pi * t))


def mape_percent(model, X, depth_cm):
    pred = np.exp(np.array(model(mx.array(X))))
    return float(np.mean(np.abs(pred - depth_cm) / depth_cm) * 100.0)


def main():
    rng = np.random.default_rng(2026)
    X, y = make_runs(11000, rng)
    Xtr, ytr = X[:8000], y[:8000]
    Xva, yva = X[8000:9500], y[8000:9500]
    Xte, yte = X[9500:], y[9500:]
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
    log_ytr = np.log(ytr)

    mx.random.seed(7)
    model = SoftnessNet(len(FEATURES))
    mx.eval(model.parameters())
    opt = NesterovSGD(model.trainable_parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    grad_fn = nn.value_and_grad(model, loss_fn)

    batch, epochs, patience = 128, 40, 6
    steps_per_epoch = len(Xtr) // batch
    total = epochs * steps_per_epoch

    # gradient check on the first batch: every leaf should receive a signal
    _, g0 = grad_fn(model, mx.array(Xtr[:batch]), mx.array(log_ytr[:batch]))
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    log.info("first-batch gradient check: %d leaves, %d with all-zero grad",
             len(tree_flatten(g0)), len(dead))

    log.info("baseline val MAPE (untrained) %.1f %%", mape_percent(model, Xva, yva))
    best, best_params, bad, step = float("inf"), None, 0, 0
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(Xtr))
        run_loss = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            loss, grads = grad_fn(model, mx.array(Xtr[idx]), mx.array(log_ytr[idx]))
            new_params = opt.step(model.trainable_parameters(), grads, lr_at(step, total))
            model.update(new_params)
            mx.eval(model.parameters(), opt.buf, loss)
            run_loss += loss.item()
            step += 1
        val = mape_percent(model, Xva, yva)
        flag = ""
        if val < best - 1e-3:
            best, bad, flag = val, 0, "*"
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
        log.info("epoch %2d  lr %.4f  train mse(log) %.4f  val MAPE %5.2f %% %s",
                 epoch, lr_at(step, total), run_loss / steps_per_epoch, val, flag)
        if bad >= patience:
            log.info("no val gain for %d epochs, stopping", patience)
            break

    model.update(best_params)
    mx.eval(model.parameters())
    log.info("restored best weights (val MAPE %.2f %%)", best)
    log.info("test MAPE %.2f %%   wall %.1fs", mape_percent(model, Xte, yte), time.time() - t0)


if __name__ == "__main__":
    main()
