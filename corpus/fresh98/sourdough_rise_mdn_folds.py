"""Bakery notebook: predict loaf rise (cm) from the proofing log with a mixture density net.

Over-proofed doughs collapse, so the rise is bimodal; a 3-component Gaussian
mixture head models that.  Three folds, each trained from scratch; the run is
quiet while training (one dot per epoch) and prints a summary at the end.
Loss is the mixture NLL in nats per loaf; it goes below zero once the
components get narrower than ~0.24 cm.
"""
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

K = 3
N_LOAVES = 9000
FOLDS = 3
EPOCHS = 10
BATCH = 96
LR = 0.03


def bake_log(n, rng):
    starter_age = rng.uniform(2, 14, n)          # hours since last feed
    hydration = rng.uniform(0.62, 0.85, n)
    proof_temp = rng.uniform(18, 30, n)          # C
    proof_hours = rng.uniform(2, 12, n)
    protein = rng.uniform(0.10, 0.14, n)
    activity = np.exp(-((starter_age - 7) / 4) ** 2) * (proof_temp - 12) / 10
    dose = activity * proof_hours
    normal_rise = 2.0 + 1.1 * dose ** 0.7 + 25 * (protein - 0.12) + rng.normal(0, 0.15, n)
    p_collapse = 1 / (1 + np.exp(-(dose - 9.0) * 1.5 - (hydration - 0.75) * 12))
    collapsed = rng.random(n) < p_collapse
    rise = np.where(collapsed, 1.2 + rng.normal(0, 0.25, n), normal_rise)
    x = np.stack([starter_age, hydration, proof_temp, proof_hours, protein], 1)
    return x.astype(np.float32), rise.astype(np.float32)


class RiseMDN(nn.Module):
    def __init__(self, d_in=5, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.logit_w = nn.Linear(hidden, K)
        self.mean = nn.Linear(hidden, K)
        self.log_sd = nn.Linear(hidden, K)

    def __call__(self, x):
        h = self.body(x)
        return self.logit_w(h), self.mean(h), mx.clip(self.log_sd(h), -5.0, 2.0)


def mixture_nll(params, y, y_scale):
    logits, mu, log_sd = params
    z = (y[:, None] - mu) / mx.exp(log_sd)
    comp = -0.5 * z * z - log_sd - 0.5 * np.log(2 * np.pi)
    ll = mx.logsumexp(nn.log_softmax(logits, axis=1) + comp, axis=1)
    return -mx.mean(ll) + np.log(y_scale)        # back to nats per cm


def sample_mixture(params, n_draw, rng):
    logits, mu, log_sd = (np.array(p) for p in params)
    w = np.exp(logits - logits.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    cum = np.cumsum(w, 1)
    u = rng.random((w.shape[0], n_draw, 1))
    k = (u > cum[:, None, :]).sum(-1)
    k = np.minimum(k, K - 1)
    m = np.take_along_axis(mu, k, 1)
    s = np.exp(np.take_along_axis(log_sd, k, 1))
    return m + s * rng.standard_normal(m.shape)


def run_fold(fold, x, y, rng):
    val = np.arange(len(y)) % FOLDS == fold
    xt, yt, xv, yv = x[~val], y[~val], x[val], y[val]
    mu_x, sd_x = xt.mean(0), xt.std(0)
    mu_y, sd_y = float(yt.mean()), float(yt.std())
    xt_m, xv_m = mx.array((xt - mu_x) / sd_x), mx.array((xv - mu_x) / sd_x)
    yt_m, yv_m = mx.array((yt - mu_y) / sd_y), mx.array((yv - mu_y) / sd_y)

    model = RiseMDN()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=LR)

    def loss_fn(m, xb, yb):
        return mixture_nll(m(xb), yb, sd_y)

    vg = nn.value_and_grad(model, loss_fn)
    _, g0 = vg(model, xt_m[:BATCH], yt_m[:BATCH])
    zero_leaves = [k for k, v in tree_flatten(g0) if not mx.any(v != 0).item()]

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    first_val = mixture_nll(model(xv_m), yv_m, sd_y).item()
    t0 = time.perf_counter()
    n = len(yt)
    for epoch in range(EPOCHS):
        order = rng.permutation(n)
        for s in range(0, n - BATCH + 1, BATCH):
            idx = mx.array(order[s:s + BATCH])
            loss = step(xt_m[idx], yt_m[idx])
            mx.eval(loss, state)
        sys.stdout.write(".")
        sys.stdout.flush()
    secs = time.perf_counter() - t0

    params = model(xv_m)
    val_nll = mixture_nll(params, yv_m, sd_y).item()
    draws = sample_mixture(params, 200, rng) * sd_y + mu_y
    lo, hi = np.percentile(draws, [10, 90], axis=1)
    cover = 100.0 * np.mean((yv >= lo) & (yv <= hi))
    median_err = float(np.mean(np.abs(np.median(draws, 1) - yv)))
    base_nll = 0.5 * np.log(2 * np.pi * np.e * yt.var())     # a single Gaussian on the train rises
    return dict(fold=fold + 1, n_train=n, zero_leaves=zero_leaves, leaves=len(tree_flatten(g0)),
                untrained=first_val, val_nll=val_nll, base=base_nll, cover=cover,
                mae=median_err, secs=secs)


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    x, y = bake_log(N_LOAVES, rng)
    print(f"bake log: {N_LOAVES} loaves, {100 * np.mean(y < 1.8):.1f}% look collapsed (rise < 1.8 cm)")
    print(f"training {FOLDS} folds x {EPOCHS} epochs, one dot per epoch ", end="")
    results = [run_fold(f, x, y, rng) for f in range(FOLDS)]
    print(" done")
    print()
    head = "{:>4} {:>7} {:>11} {:>9} {:>12} {:>10} {:>9} {:>6}"
    print(head.format("fold", "n_train", "untrained", "val_nll", "1-gauss nll", "80%-cover", "mae_cm", "secs"))
    for r in results:
        print(head.format(r["fold"], r["n_train"], f"{r['untrained']:.3f}", f"{r['val_nll']:.3f}",
                          f"{r['base']:.3f}", f"{r['cover']:.1f}%", f"{r['mae']:.3f}", f"{r['secs']:.1f}"))
        if r["zero_leaves"]:
            print(f"     fold {r['fold']}: leaves with zero gradient at step 1: {r['zero_leaves']}")
    print(f"first-step gradient check: {results[0]['leaves']} leaves per fold, "
          f"zero leaves in any fold: {sum(len(r['zero_leaves']) for r in results)}")
    print(f"mean val nll over folds: {np.mean([r['val_nll'] for r in results]):.3f} nats per loaf")


if __name__ == "__main__":
    main()
