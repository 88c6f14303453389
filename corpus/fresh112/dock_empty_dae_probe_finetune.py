"""Bike-share dock: will this dock be EMPTY within 30 minutes?

Few labelled snapshots, many unlabelled ones.  Three phases:
  1. denoising autoencoder on the unlabelled snapshots (silent),
  2. linear probe: encoder frozen, only the head trains (SGD),
  3. full fine-tune: encoder unfrozen with its own Adam (warm-up from 0),
     head keeps SGD, through optim.MultiOptimizer.  The decoder stays frozen.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["hour_sin", "hour_cos", "weekend", "fill_ratio", "rain_mm",
            "temp_c", "event_nearby", "out_15m", "in_15m", "metro_km"]


def make_snapshots(n, rng):
    hour = rng.uniform(0, 24, n)
    weekend = (rng.uniform(size=n) < 2 / 7).astype(np.float64)
    fill = rng.beta(2.0, 2.5, n)
    rain = rng.exponential(0.6, n) * (rng.uniform(size=n) < 0.3)
    temp = rng.normal(14, 7, n)
    event = (rng.uniform(size=n) < 0.08).astype(np.float64)
    rush = np.exp(-((hour - 8.3) ** 2) / 2.0) + np.exp(-((hour - 17.6) ** 2) / 3.0)
    out15 = rng.poisson(2 + 6 * rush * (1 - weekend) + 3 * event)
    in15 = rng.poisson(2 + 3 * rush + 1.5 * weekend)
    metro = rng.gamma(2.0, 0.4, n)
    X = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  weekend, fill, rain, temp, event, out15, in15, metro], 1)
    net_drain = (out15 - in15) / 20.0
    z = (-1.2 - 5.5 * (fill - 0.25) + 4.0 * net_drain - 0.6 * rain
         + 0.04 * (temp - 14) + 1.2 * event - 0.7 * metro)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    return X, y


class DockNet(nn.Module):
    def __init__(self, d_in=10, d_hidden=64, d_code=16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(),
                                     nn.Linear(d_hidden, d_code))
        self.decoder = nn.Sequential(nn.Linear(d_code, d_hidden), nn.GELU(),
                                     nn.Linear(d_hidden, d_in))
        self.head = nn.Linear(d_code, 1)

    def reconstruct(self, x):
        return self.decoder(self.encoder(x))

    def __call__(self, x):
        return self.head(nn.gelu(self.encoder(x))).squeeze(-1)


def dae_loss(model, x_noisy, x_clean):
    return nn.losses.mse_loss(model.reconstruct(x_noisy), x_clean)


def bce_loss(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True)


def check_grads(tag, grads):
    flat = tree_flatten(grads)
    dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    assert not dead, f"{tag}: zero gradient for {dead}"
    print(f"  [{tag}] first step: {len(flat)} trainable leaves, all with non-zero gradient")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate(model, X, y_np):
    logits = model(X)
    loss = nn.losses.binary_cross_entropy(logits, mx.array(y_np), with_logits=True)
    p = np.array(mx.sigmoid(logits))
    pred = p > 0.5
    recall = 100.0 * (pred & (y_np == 1)).sum() / max(1, (y_np == 1).sum())
    return float(loss), auc(p, y_np), recall


def row(phase, epoch, lr, tr, te):
    print(f"  {phase:<9}{epoch:>5}{lr:>11.2e}{tr:>10.4f}{te[0]:>10.4f}{te[1]:>8.3f}{te[2]:>9.1f}")


def run_epochs(model, opt, step_fn, Xtr, ytr, Xte, yte_np, epochs, batch, phase, rng,
               lr_of, report_every):
    n = Xtr.shape[0]
    first = True
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            if first:
                check_grads(phase, grads)
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if ep == 1 or ep % report_every == 0:
            row(phase, ep, lr_of(), tot / cnt, evaluate(model, Xte, yte_np))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    t0 = time.perf_counter()

    Xu, _ = make_snapshots(20000, rng)
    Xl, yl = make_snapshots(1200, rng)
    Xt, yt = make_snapshots(4000, rng)
    mu, sd = Xu.mean(0), Xu.std(0) + 1e-6
    norm = lambda a: mx.array(((a - mu) / sd).astype(np.float32))
    Xu, Xl, Xt = norm(Xu), norm(Xl), norm(Xt)
    yl_mx = mx.array(yl)
    print(f"snapshots: {Xu.shape[0]} unlabelled, {Xl.shape[0]} labelled, {Xt.shape[0]} test; "
          f"empty-soon rate {100 * yl.mean():.1f}% / {100 * yt.mean():.1f}%")

    model = DockNet()
    mx.eval(model.parameters())

    # ---- phase 1: denoising autoencoder (no per-step output) ----------------
    opt1 = optim.Adam(learning_rate=2e-3)
    ae_step = nn.value_and_grad(model, dae_loss)
    model.head.freeze()
    steps, batch = 1500, 128
    first_loss = None
    for s in range(steps):
        idx = mx.array(rng.integers(0, Xu.shape[0], batch))
        clean = Xu[idx]
        keep = mx.random.bernoulli(0.8, clean.shape)
        noisy = mx.where(keep, clean, 0.0) + 0.1 * mx.random.normal(clean.shape)
        loss, grads = ae_step(model, noisy, clean)
        if s == 0:
            check_grads("pretrain", grads)
        opt1.update(model, grads)
        mx.eval(model.parameters(), opt1.state, loss)
        if first_loss is None:
            first_loss = loss.item()
    print(f"pretrain: {steps} steps, denoising mse {first_loss:.4f} -> {loss.item():.4f} "
          f"({time.perf_counter() - t0:.1f}s)")
    model.head.unfreeze()

    print(f"  {'phase':<9}{'epoch':>5}{'lr':>11}{'train':>10}{'test':>10}{'auc':>8}{'recall%':>9}")
    print("  " + "-" * 60)

    # ---- phase 2: linear probe, encoder + decoder frozen ---------------------
    model.encoder.freeze()
    model.decoder.freeze()
    enc_before = {k: np.array(v) for k, v in tree_flatten(model.encoder.parameters())}
    opt2 = optim.SGD(learning_rate=0.1, momentum=0.9)
    cls_step = nn.value_and_grad(model, bce_loss)
    row("untrained", 0, 0.0, float("nan"), evaluate(model, Xt, yt))
    run_epochs(model, opt2, cls_step, Xl, yl_mx, Xt, yt, 30, 64, "probe", rng,
               lambda: 0.1, 10)
    drift = max(float(np.abs(np.array(v) - enc_before[k]).max())
                for k, v in tree_flatten(model.encoder.parameters()))
    print(f"  probe done: frozen encoder max change {drift:.1e}")

    # ---- phase 3: fine-tune the encoder too (decoder stays frozen) -----------
    model.encoder.unfreeze()
    epochs, batch = 25, 64
    steps_total = epochs * (Xl.shape[0] // batch)
    warm = Xl.shape[0] // batch * 2
    enc_lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, warm),
         optim.cosine_decay(3e-4, steps_total - warm, 1e-5)], [warm])
    enc_opt = optim.Adam(learning_rate=enc_lr)
    head_opt = optim.SGD(learning_rate=0.02, momentum=0.9)
    opt3 = optim.MultiOptimizer([enc_opt, head_opt],
                                [lambda path, w: path.startswith("encoder")])
    run_epochs(model, opt3, cls_step, Xl, yl_mx, Xt, yt, epochs, batch, "finetune", rng,
               lambda: enc_opt.learning_rate.item(), 5)
    print(f"done in {time.perf_counter() - t0:.1f}s; decoder frozen throughout fine-tune")


if __name__ == "__main__":
    main()
