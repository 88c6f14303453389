"""Kerning-pair regression for a display typeface.

Each glyph has a fixed 8-d outline descriptor (side-profile concavity, overhang,
x-height share, ... mixed by a fixed rotation) that we keep in a FROZEN
nn.Embedding table: it comes from the font-analysis tool and must not drift.
Only the pair head trains.  LR warms up linearly from 0, then cosine-decays.
The family has 6 masters (Thin .. Black); the master's stem weight is a
third input.  Early stopping on validation MAE restores the best weights.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

GLYPHS = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + list("acegnorsvwy.,-")
N_GLYPH = len(GLYPHS)
DESC = 8
EPOCHS = 70
BATCH = 32
PEAK_LR = 3e-3
WARMUP = 400
PATIENCE = 10
MASTERS = np.array([0.15, 0.3, 0.45, 0.6, 0.8, 1.0], dtype=np.float32)


def glyph_descriptors(rng):
    """Synthetic outline analysis: 5 meaningful side features + 3 nuisance ones."""
    right_cav = rng.uniform(0, 1, N_GLYPH)   # how open the right side is (L, T, V high)
    left_cav = rng.uniform(0, 1, N_GLYPH)    # how open the left side is (A, V, J high)
    overhang = rng.uniform(-1, 1, N_GLYPH)   # top bar / diagonal overhang
    xh = rng.uniform(0.4, 1.0, N_GLYPH)      # share of height used
    round_ = rng.uniform(0, 1, N_GLYPH)      # round vs straight stems
    nuis = rng.normal(0, 1, (N_GLYPH, 3))
    raw = np.column_stack([right_cav, left_cav, overhang, xh, round_, nuis])
    raw = (raw - raw.mean(0)) / raw.std(0)
    q, _ = np.linalg.qr(rng.normal(size=(DESC, DESC)))
    return raw @ q, (right_cav, left_cav, overhang, xh, round_)


def true_kern(a, b, w, f):
    right_cav, left_cav, overhang, xh, round_ = f
    return ((-55.0 - 30.0 * w) * right_cav[a] * left_cav[b]
            - 25.0 * np.maximum(overhang[a], 0) * (1.1 - xh[b])
            + 12.0 * round_[a] * round_[b] * (1.5 - w)
            - 8.0 * np.sin(3.0 * left_cav[b] + overhang[a]))


class PairKerner(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.glyph = nn.Embedding(N_GLYPH, DESC)
        self.glyph.weight = mx.array(table.astype(np.float32))
        self.body = nn.Sequential(
            nn.Linear(2 * DESC + 1, 96), nn.SiLU(),
            nn.Linear(96, 96), nn.SiLU(),
            nn.Linear(96, 1),
        )

    def __call__(self, left, right, stem):
        z = mx.concatenate([self.glyph(left), self.glyph(right), stem[:, None]],
                           axis=-1)
        return self.body(z).squeeze(-1) * 10.0   # output in font units / 10 scale


def huber(pred, y, delta=5.0):
    r = mx.abs(pred - y)
    return mx.mean(mx.where(r < delta, 0.5 * r * r, delta * (r - 0.5 * delta)))


def evaluate(model, L, R, W, y):
    p = np.array(model(mx.array(L), mx.array(R), mx.array(W)))
    err = np.abs(p - y)
    return float(err.mean()), float((err <= 5.0).mean() * 100.0)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    table, feats = glyph_descriptors(rng)

    a, b, m = np.meshgrid(np.arange(N_GLYPH), np.arange(N_GLYPH),
                          np.arange(len(MASTERS)), indexing="ij")
    a, b, w = a.ravel(), b.ravel(), MASTERS[m.ravel()]
    y = true_kern(a, b, w, feats) + rng.normal(0, 3.0, a.size)
    y = np.round(y).astype(np.float32)          # kerning values are integers
    perm = rng.permutation(a.size)
    n_tr, n_va = int(0.7 * a.size), int(0.15 * a.size)
    tr, va, te = perm[:n_tr], perm[n_tr:n_tr + n_va], perm[n_tr + n_va:]

    model = PairKerner(table)
    model.glyph.freeze()                        # descriptors are fixed by design
    mx.eval(model.parameters())
    frozen_before = np.array(model.glyph.weight)

    steps_per_epoch = math.ceil(len(tr) / BATCH)
    total = EPOCHS * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, total - WARMUP, 1e-5)],
        [WARMUP])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    loss_and_grad = nn.value_and_grad(model, lambda m, l, r, s, t: huber(m(l, r, s), t))

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"kerning head: {len(tr)} train pairs, {len(va)} val, {len(te)} test; "
          f"{n_train}/{n_all} parameters trainable (glyph table frozen)")
    print(f"{'epoch':>5} {'lr':>9} {'train_huber':>11} {'val_MAE(u)':>10} "
          f"{'val<=5u':>8}  note")

    best_mae, best_epoch, best_params, bad = float("inf"), -1, None, 0
    t0 = time.time()
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(tr)
        tot, seen = 0.0, 0
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            lv, grads = loss_and_grad(model, mx.array(a[idx]), mx.array(b[idx]),
                                      mx.array(w[idx]), mx.array(y[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, lv)
            tot += lv.item() * len(idx)
            seen += len(idx)
        mae, within = evaluate(model, a[va], b[va], w[va], y[va])
        note = ""
        if mae < best_mae - 1e-3:
            best_mae, best_epoch, bad = mae, epoch, 0
            best_params = [(k, mx.array(v)) for k, v in
                           tree_flatten(model.trainable_parameters())]
            note = "*"
        else:
            bad += 1
        lr_now = float(opt.learning_rate)
        print(f"{epoch:>5} {lr_now:9.2e} {tot / seen:11.3f} {mae:10.2f} "
              f"{within:7.1f}%  {note}")
        if bad >= PATIENCE:
            print(f"no val improvement for {PATIENCE} epochs, stopping early")
            break

    model.update(tree_unflatten(best_params))
    mx.eval(model.parameters())
    drift = float(np.abs(np.array(model.glyph.weight) - frozen_before).max())
    mae, within = evaluate(model, a[te], b[te], w[te], y[te])
    base = float(np.abs(y[te] - np.median(y[tr])).mean())
    print(f"restored epoch {best_epoch} weights (val MAE {best_mae:.2f} u); "
          f"glyph table max drift {drift:.1e}")
    print(f"test MAE {mae:.2f} units (median baseline {base:.2f}), "
          f"within 5 units: {within:.1f}%   [{time.time() - t0:.1f}s]")


if __name__ == "__main__":
    main()
