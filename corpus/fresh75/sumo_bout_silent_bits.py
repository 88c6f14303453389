"""Sumo bout outcome: P(east wrestler wins) from the two wrestlers' banzuke rank
(a FIXED, frozen embedding table of rank tiers), weight gap, height gap, record in
the current basho and head-to-head history.  Silent training; everything is
reported in one table at the end.  Log loss is reported in bits per bout."""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_TIERS = 8  # yokozuna, ozeki, sekiwake, komusubi, M1-4, M5-8, M9-12, M13+


class BoutModel(nn.Module):
    def __init__(self, d_emb=6, h=64):
        super().__init__()
        self.rank = nn.Embedding(N_TIERS, d_emb)
        self.body = nn.Sequential(nn.Linear(2 * d_emb + 5, h), nn.GELU(),
                                  nn.Linear(h, h), nn.GELU())
        self.head = nn.Linear(h, 1)

    def __call__(self, tiers, feats):
        e = self.rank(tiers).reshape(tiers.shape[0], -1)
        return self.head(self.body(mx.concatenate([e, feats], axis=1))).squeeze(-1)


def simulate(n, rng):
    tier = rng.integers(0, N_TIERS, (n, 2))
    strength = np.array([2.0, 1.5, 1.1, 0.9, 0.6, 0.3, 0.1, -0.1])
    dw = rng.normal(0, 25, n)          # kg
    dh = rng.normal(0, 6, n)           # cm
    rec = rng.integers(0, 8, (n, 2))   # wins so far this basho (of 7)
    h2h = rng.normal(0, 1, n)
    z = (strength[tier[:, 0]] - strength[tier[:, 1]] + 0.012 * dw + 0.01 * dh
         + 0.12 * (rec[:, 0] - rec[:, 1]) + 0.25 * h2h)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    feats = np.stack([dw / 25, dh / 6, (rec[:, 0] - 3.5) / 2, (rec[:, 1] - 3.5) / 2, h2h], 1)
    return tier.astype(np.int32), feats.astype(np.float32), y, z


def main():
    t0 = time.time()
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    Ttr, Ftr, ytr, _ = simulate(30000, rng)
    Tte, Fte, yte, zte = simulate(5000, rng)
    p_true = 1 / (1 + np.exp(-zte))
    bayes_bits = float(np.mean(-(yte * np.log2(p_true) + (1 - yte) * np.log2(1 - p_true))))

    model = BoutModel()
    # rank tiers: a fixed orthonormal-ish code, not learned (the body learns to read it)
    model.rank.weight = mx.array(np.linalg.qr(rng.normal(size=(N_TIERS, N_TIERS)))[0][:, :6]
                                 .astype(np.float32) * 2.0)
    model.rank.freeze()
    frozen_before = mx.array(model.rank.weight)

    steps_total, bs = 4000, 64
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 300), optim.cosine_decay(2e-3, steps_total - 300, 2e-5)],
        [300])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(tiers, feats, y):
        return nn.losses.binary_cross_entropy(model(tiers, feats), y, with_logits=True)

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(tiers, feats, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(tiers, feats, y)
        opt.update(model, grads)
        return loss

    # gradient check outside the compiled step (kept for the final table)
    _, g0 = nn.value_and_grad(model, loss_fn)(mx.array(Ttr[:bs]), mx.array(Ftr[:bs]), mx.array(ytr[:bs]))
    g_flat = tree_flatten(g0)
    g_nonzero = sum(1 for _, g in g_flat if mx.any(g != 0).item())

    Tte_m, Fte_m, yte_m = mx.array(Tte), mx.array(Fte), mx.array(yte)

    def evaluate():
        p = mx.sigmoid(model(Tte_m, Fte_m))
        p = mx.clip(p, 1e-6, 1 - 1e-6)
        bits = mx.mean(-(yte_m * mx.log2(p) + (1 - yte_m) * mx.log2(1 - p))).item()
        brier = mx.mean((p - yte_m) ** 2).item()
        acc = mx.mean(((p > 0.5) == (yte_m > 0.5)).astype(mx.float32)).item() * 100
        return bits, brier, acc

    rows = [("0", 0.0, float("nan")) + evaluate()]
    n = len(ytr)
    order = rng.permutation(n)
    pos, window = 0, []
    for it in range(1, steps_total + 1):
        if pos + bs > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + bs]
        pos += bs
        lr_now = float(sched(opt.step).item())
        loss = step(mx.array(Ttr[idx]), mx.array(Ftr[idx]), mx.array(ytr[idx]))
        mx.eval(state, loss)
        window.append(loss.item() / math.log(2))
        if it % 500 == 0 or it == 1:
            rows.append((str(it), lr_now, sum(window) / len(window)) + evaluate())
            window = []

    frozen_change = mx.max(mx.abs(model.rank.weight - frozen_before)).item()
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    total = sum(v.size for _, v in tree_flatten(model.parameters()))

    print("{:>6} {:>9} {:>15} {:>14} {:>8} {:>8}".format(
        "step", "lr", "train_bits/bout", "test_bits/bout", "brier", "acc%"))
    for r in rows:
        print("{:>6} {:>9.2e} {:>15.4f} {:>14.4f} {:>8.4f} {:>8.2f}".format(*r))
    print("gradient leaves non-zero at step 1: {}/{} (the rank table is frozen and not among them)"
          .format(g_nonzero, len(g_flat)))
    print("trainable params {} of {}; frozen rank table max change {:.1e}".format(
        trainable, total, frozen_change))
    print("coin-flip baseline 1.0000 bits/bout; true-model floor {:.4f} bits/bout; {:.1f}s".format(
        bayes_bits, time.time() - t0))


if __name__ == "__main__":
    main()
