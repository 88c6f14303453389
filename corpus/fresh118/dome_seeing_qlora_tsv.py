"""Dome seeing model: pretrain on the old observatory's logs, then adapt a
4-bit quantised copy to the new site with low-rank adapters (QLoRA-style).

Seeing (arcsec FWHM) is predicted from six nightly readings:
dome-minus-outside temperature, mirror-minus-air temperature, wind speed,
wind direction relative to the slit (cos), vent fans on/off, and hours since
sunset.  The new site has a different wind response and a stronger mirror
term, so the base model starts off biased there.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def out(*cols):
    sys.stdout.write("\t".join(str(c) for c in cols) + "\n")
    sys.stdout.flush()


def make_site(n, rng, site):
    dT = rng.normal(0.8, 1.0, n)
    mT = rng.normal(0.5, 0.9, n)
    wind = rng.gamma(2.0, 2.2, n)
    wdir = np.cos(rng.uniform(0, 2 * np.pi, n))
    fans = (rng.random(n) < 0.5).astype(np.float64)
    hrs = rng.uniform(0, 10, n)
    if site == "old":
        s = (0.55 + 0.35 * np.abs(dT) + 0.45 * np.log1p(np.exp(mT))
             + 0.04 * (wind - 5.0) ** 2 / 5.0 - 0.10 * fans * np.abs(dT)
             + 0.05 * wdir * wind / 5.0 - 0.02 * hrs)
    else:
        s = (0.70 + 0.30 * np.abs(dT) + 0.80 * np.log1p(np.exp(mT))
             + 0.09 * (wind - 3.5) ** 2 / 5.0 - 0.18 * fans * np.abs(dT)
             + 0.12 * wdir * wind / 5.0 - 0.03 * hrs)
    s = s + rng.normal(0, 0.08, n)
    X = np.stack([dT, mT, wind, wdir, fans, hrs], 1)
    return X.astype(np.float32), s.astype(np.float32)[:, None]


class SeeingNet(nn.Module):
    def __init__(self, d_in=6, h=128):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.l3(x)


class LoRA(nn.Module):
    """Low-rank adapter around a (frozen, quantised) linear layer."""

    def __init__(self, base, rank=8, alpha=16.0):
        super().__init__()
        d_out, d_in = base.weight.shape
        if isinstance(base, nn.QuantizedLinear):
            d_in = d_in * 32 // base.bits   # packed uint32 columns
        self.base = base
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(d_in)
        self.lora_a = mx.random.uniform(-bound, bound, (d_in, rank))
        # small non-zero B so both factors get a gradient from the first step
        self.lora_b = mx.random.normal((rank, d_out)) * 1e-3

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def mse(model, X, y):
    return nn.losses.mse_loss(model(X), y)


def rmse(model, X, y):
    return math.sqrt(mse(model, X, y).item())


def run_epochs(model, opt, X, y, Xv, yv, epochs, bs, rng, tag, report_every):
    step_fn = nn.value_and_grad(model, mse)
    n = X.shape[0]
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = step_fn(model, X[idx], y[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if ep == 1 or ep % report_every == 0 or ep == epochs:
            out(tag, ep, f"{tot / cnt:.5f}", f"{rmse(model, Xv, yv):.4f}",
                f"{opt.learning_rate.item():.2e}", f"{time.perf_counter() - t0:.1f}")


def grad_check(model, X, y, tag):
    _, g = nn.value_and_grad(model, mse)(model, X[:256], y[:256])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    out("#", tag, "grad leaves", len(flat), "zero:", ",".join(zero) or "none")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)

    Xo, yo = make_site(16000, rng, "old")
    Xov, yov = make_site(2000, rng, "old")
    Xn, yn = make_site(1500, rng, "new")      # few nights logged at the new site
    Xnv, ynv = make_site(2000, rng, "new")
    mu, sd = Xo.mean(0), Xo.std(0)
    norm = lambda a: mx.array((a - mu) / sd)
    Xo, Xov, Xn, Xnv = map(norm, (Xo, Xov, Xn, Xnv))
    yo, yov, yn, ynv = map(mx.array, (yo, yov, yn, ynv))

    out("#", "old site nights", Xo.shape[0], "new site nights", Xn.shape[0])
    out("#", "predict-mean rmse new site (arcsec)", f"{float(np.std(np.array(ynv))):.4f}")
    out("phase", "epoch", "train_mse", "val_rmse_arcsec", "lr", "secs")

    # phase 1: full-precision pretraining on the old site
    model = SeeingNet()
    mx.eval(model.parameters())
    grad_check(model, Xo, yo, "pretrain")
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 10 * (16000 // 128), 1e-5))
    run_epochs(model, opt, Xo, yo, Xov, yov, 10, 128, rng, "pretrain", 3)
    out("#", "base model on new site before adapting, rmse", f"{rmse(model, Xnv, ynv):.4f}")

    # phase 2: quantise to 4 bits, freeze, add adapters
    # the 6-input first layer can't be grouped by 32, so it stays float (but frozen)
    nn.quantize(model, group_size=32, bits=4,
                class_predicate=lambda p, m: isinstance(m, nn.Linear)
                and m.weight.shape[1] % 32 == 0)
    model.freeze()
    out("#", "layer types", *(f"{k}={type(m).__name__}" for k, m in model.children().items()))
    out("#", "after 4-bit quantisation, new-site rmse", f"{rmse(model, Xnv, ynv):.4f}",
        "old-site rmse", f"{rmse(model, Xov, yov):.4f}")
    model.l1 = LoRA(model.l1)
    model.l2 = LoRA(model.l2)
    model.l3 = LoRA(model.l3, rank=4, alpha=8.0)
    mx.eval(model.parameters())
    frozen_before = {k: np.array(v) for k, v in tree_flatten(model.parameters())
                     if "lora" not in k}
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    out("#", "trainable adapter params", n_train, "frozen arrays", len(frozen_before))
    grad_check(model, Xn, yn, "adapt")

    opt2 = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)
    run_epochs(model, opt2, Xn, yn, Xnv, ynv, 40, 50, rng, "adapt", 5)

    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
                for k, v in tree_flatten(model.parameters()) if k in frozen_before)
    out("#", "max change of frozen quantised arrays", drift)
    out("#", "done; new-site rmse", f"{rmse(model, Xnv, ynv):.4f}", "noise floor 0.080")


if __name__ == "__main__":
    main()
