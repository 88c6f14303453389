"""Violin varnish identification from UV-fluorescence spectra.

Which of 5 varnish recipes (oil-colophony, spirit-shellac, spirit-sandarac,
oil-amber, modern nitro) covers a instrument, from a 48-channel synthetic
UV-fluorescence emission spectrum.

Mixed precision done by hand: the forward/backward pass runs in float16 on a
working copy, float32 master weights live in a second model and are the only
thing the optimizer touches.  Dynamic loss scaling: on a non-finite gradient
the step is skipped and the scale halved; after 150 clean steps it doubles,
up to a cap of 2**16.
The first layer is a fixed random-Fourier projection, frozen on purpose.
One JSON object per line.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

RECIPES = ["oil_colophony", "spirit_shellac", "spirit_sandarac", "oil_amber", "nitro"]
N_CH = 48
MAX_SCALE = 2.0 ** 16


def spectra(n, rng):
    wl = np.linspace(380, 700, N_CH)
    peaks = np.array([[455, 40], [520, 55], [480, 30], [560, 70], [430, 25]], float)
    second = np.array([[600, 60], [0, 1], [610, 35], [0, 1], [500, 80]], float)
    y = rng.integers(0, 5, n)
    c, w = peaks[y, :1], peaks[y, 1:]
    c = c + rng.normal(0, 22, (n, 1))
    amp = rng.lognormal(0, 0.35, (n, 1))
    s = amp * np.exp(-0.5 * ((wl - c) / w) ** 2)
    c2, w2 = second[y, :1], second[y, 1:]
    s += 0.35 * amp * np.exp(-0.5 * ((wl - c2) / w2) ** 2) * (c2 > 0)
    s += 0.15 * rng.random((n, 1)) * np.linspace(1, 0, N_CH)  # aged-wood background
    s += rng.normal(0, 0.12, s.shape)
    s = s / (s.max(1, keepdims=True) + 1e-6)
    return s.astype(np.float32), y.astype(np.int32)


class VarnishNet(nn.Module):
    def __init__(self, n_rff=96, hidden=64):
        super().__init__()
        self.rff = nn.Linear(N_CH, n_rff)  # fixed random-Fourier features, frozen below
        self.h1 = nn.Linear(2 * n_rff, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, len(RECIPES))

    def __call__(self, x):
        z = self.rff(x)
        f = mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)
        return self.head(nn.gelu(self.norm(self.h1(f))))


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    Xtr, ytr = spectra(9000, rng)
    Xva, yva = spectra(2000, rng)
    emit(event="data", train=len(ytr), val=len(yva), channels=N_CH,
         chance_acc_pct=round(100 * np.bincount(yva).max() / len(yva), 2))

    mx.random.seed(3)
    master = VarnishNet()
    master.rff.weight = mx.random.normal(master.rff.weight.shape) * 0.4
    master.rff.bias = mx.random.uniform(0, 2 * np.pi, master.rff.bias.shape)
    master.rff.freeze()
    work = VarnishNet()
    work.rff.freeze()
    work.set_dtype(mx.float16)
    frozen_before = np.array(master.rff.weight)

    opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, 1800, 1e-5), weight_decay=1e-2)

    def scaled_loss(model, x, y, scale):
        logits = model(x).astype(mx.float32)
        return nn.losses.cross_entropy(logits, y, reduction="mean") * scale

    vg = nn.value_and_grad(work, scaled_loss)
    xtr, ytr_m = mx.array(Xtr).astype(mx.float16), mx.array(ytr)
    xva = mx.array(Xva).astype(mx.float16)

    scale, clean, skipped = 2.0 ** 15, 0, 0
    bs, steps, report = 96, 1800, 200
    run_loss, run_n = 0.0, 0
    for step in range(1, steps + 1):
        work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))
        idx = mx.array(rng.integers(0, len(ytr), bs))
        sl, g16 = vg(work, xtr[idx], ytr_m[idx], mx.array(scale, mx.float32))
        grads = tree_map(lambda g: g.astype(mx.float32) / scale, g16)
        finite = mx.all(mx.stack([mx.all(mx.isfinite(g)) for _, g in tree_flatten(grads)])).item()
        if step == 1:
            leaves = tree_flatten(grads)
            emit(event="grad_check", trainable_leaves=len(leaves),
                 zero_leaves=[k for k, g in leaves if float(mx.abs(g).max()) == 0.0],
                 frozen=[k for k, _ in tree_flatten(master.parameters()) if k.startswith("rff.")])
        if not finite:
            skipped += 1
            scale /= 2.0
            clean = 0
            continue
        opt.update(master, grads)
        mx.eval(master.parameters(), opt.state)
        run_loss += sl.item() / scale
        run_n += 1
        clean += 1
        if clean == 150:
            scale = min(scale * 2.0, MAX_SCALE)
            clean = 0
        if step % report == 0:
            work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))
            logits = work(xva).astype(mx.float32)
            va_ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
            pred = np.array(mx.argmax(logits, axis=-1))
            err = 100.0 * float(np.mean(pred != yva))
            emit(event="report", step=step, lr=float(opt.learning_rate.item()), train_ce=round(run_loss / max(run_n, 1), 4),
                 val_ce=round(va_ce, 4), val_err_pct=round(err, 2), loss_scale=scale, skipped_steps=skipped)
            run_loss, run_n = 0.0, 0

    pred = np.array(mx.argmax(work(xva), axis=-1))
    per_class = {RECIPES[c]: round(100.0 * float(np.mean(pred[yva == c] == c)), 1) for c in range(5)}
    drift = float(np.abs(np.array(master.rff.weight) - frozen_before).max())
    emit(event="done", seconds=round(time.time() - t0, 1), val_acc_pct=round(100.0 * float(np.mean(pred == yva)), 2),
         recall_pct=per_class, frozen_rff_max_change=drift, skipped_steps=skipped)


if __name__ == "__main__":
    main()
