"""Aerial orchard survey: tag 16x16 RGB tiles with the features they contain.

Tags (any subset per tile): pond, track, canopy, netting, bare_soil.
Stage A trains with an asymmetric focal-style loss, a checkpoint is written,
then a fresh model + optimizer are restored from it and stage B fine-tunes
with plain binary cross-entropy.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

TAGS = ["pond", "track", "canopy", "netting", "bare_soil"]
PREV = np.array([0.08, 0.30, 0.45, 0.15, 0.22])
H = W = 16


def make_tiles(n, rng):
    y = (rng.random((n, len(TAGS))) < PREV).astype(np.float32)
    x = 0.35 + 0.06 * rng.standard_normal((n, H, W, 3)).astype(np.float32)
    ii, jj = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    for k in range(n):
        t = x[k]
        if y[k, 0]:  # pond: bluish disc
            ci, cj, r = rng.integers(4, 12), rng.integers(4, 12), rng.uniform(2.0, 3.5)
            m = (ii - ci) ** 2 + (jj - cj) ** 2 < r * r
            t[m] = t[m] * 0.5 + np.array([0.05, 0.15, 0.45])
        if y[k, 1]:  # track: bright straight line
            p = rng.integers(2, 14)
            if rng.random() < 0.5:
                t[p, :, :] += 0.35
            else:
                t[:, p, :] += 0.35
        if y[k, 2]:  # canopy: scattered green dots
            m = rng.random((H, W)) < 0.18
            t[m] += np.array([-0.1, 0.3, -0.1])
        if y[k, 3]:  # netting: fine grid over a block
            a, b = rng.integers(0, 8), rng.integers(0, 8)
            blk = np.zeros((H, W), bool)
            blk[a:a + 8, b:b + 8] = True
            g = blk & (((ii % 2) == 0) | ((jj % 2) == 0))
            t[g] += 0.12
        if y[k, 4]:  # bare soil: brown rectangle
            a, b = rng.integers(0, 10), rng.integers(0, 10)
            t[a:a + 6, b:b + 6] += np.array([0.2, 0.05, -0.1])
    flip = rng.random(y.shape) < 0.03  # surveyor slips
    y = np.where(flip, 1.0 - y, y).astype(np.float32)
    return x, y


class TileTagger(nn.Module):
    def __init__(self, n_tags):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(32, n_tags)

    def __call__(self, x):
        h = self.pool(nn.relu(self.c1(x)))
        h = nn.relu(self.c2(h))
        feat = mx.concatenate([h.max(axis=(1, 2)), h.mean(axis=(1, 2))], axis=-1)
        return self.head(feat)


def asym_loss(logits, y, gamma_neg=3.0, clip=0.05):
    p = mx.sigmoid(logits)
    p_neg = mx.maximum(p - clip, 0.0)  # shifted probability for negatives
    lp = nn.log_sigmoid(logits)
    ln = mx.log(mx.maximum(1.0 - p_neg, 1e-8))
    pos = y * lp
    neg = (1.0 - y) * ln * mx.power(p_neg, gamma_neg)
    return -(pos + neg).sum(axis=-1).mean()


def bce_loss(logits, y):
    return nn.losses.binary_cross_entropy(logits, y, reduction="none").sum(axis=-1).mean()


def average_precision(scores, labels):
    aps = []
    for k in range(labels.shape[1]):
        order = np.argsort(-scores[:, k])
        l = labels[order, k]
        if l.sum() == 0:
            continue
        hits = np.cumsum(l)
        prec = hits / np.arange(1, len(l) + 1)
        aps.append(float((prec * l).sum() / l.sum()))
    return float(np.mean(aps))


def f1_micro(pred, lab):
    tp = float((pred * lab).sum())
    fp = float((pred * (1 - lab)).sum())
    fn = float(((1 - pred) * lab).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1.0)


def tune_cuts(scores, labels):
    cuts = []
    for k in range(labels.shape[1]):
        best, bc = -1.0, 0.5
        for c in np.linspace(0.05, 0.95, 19):
            f = f1_micro((scores[:, k] > c).astype(np.float32), labels[:, k])
            if f > best:
                best, bc = f, c
        cuts.append(bc)
    return np.array(cuts)


def scores_of(model, x):
    out = []
    for i in range(0, x.shape[0], 500):
        out.append(np.array(mx.sigmoid(model(mx.array(x[i:i + 500])))))
    return np.concatenate(out)


def log(**kw):
    print(json.dumps(kw), flush=True)


def run_stage(name, model, opt, loss_fn, xtr, ytr, xva, yva, steps, rng, every):
    lossgrad = nn.value_and_grad(model, lambda m, a, b: loss_fn(m(a), b))
    first = None
    ema = None
    for step in range(1, steps + 1):
        idx = rng.integers(0, xtr.shape[0], 32)
        before = None
        if step == 1:
            before = np.array(model.head.weight)
        loss, g = lossgrad(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        lv = loss.item()
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if step == 1:
            first = lv
            delta = float(np.abs(np.array(model.head.weight) - before).max())
            log(stage=name, step=1, lr=float(opt.learning_rate), loss=round(lv, 4),
                head_change=delta)
        if step % every == 0:
            s = scores_of(model, xva)
            log(stage=name, step=step, lr=round(float(opt.learning_rate), 6),
                train_loss_ema=round(ema, 4),
                val_map=round(average_precision(s, yva), 4))
    return first, ema


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_tiles(4000, rng)
    xva, yva = make_tiles(800, rng)
    xte, yte = make_tiles(800, rng)
    prevalence = yva.mean(axis=0)
    log(event="data", train=len(xtr), val=len(xva), test=len(xte),
        val_prevalence=[round(float(p), 3) for p in prevalence],
        random_ranking_map=round(float(prevalence.mean()), 4))

    model = TileTagger(len(TAGS))
    mx.eval(model.parameters())
    warm, peak, total_a = 80, 3e-3, 1400
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total_a - warm, 1e-4)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    run_stage("A-asym", model, opt, asym_loss, xtr, ytr, xva, yva, total_a, rng, every=350)

    ckpt = tempfile.mkdtemp()
    mx.save_safetensors(os.path.join(ckpt, "weights.safetensors"),
                        dict(tree_flatten(model.parameters())))
    st = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), st)
    log(event="checkpoint", arrays=len(st), step=int(opt.state["step"].item()))

    restored = TileTagger(len(TAGS))
    restored.load_weights(os.path.join(ckpt, "weights.safetensors"))
    opt_b = optim.Adam(learning_rate=1e-3)
    opt_b.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    opt_b.learning_rate = 2e-4  # the stored state carries the stage-A lr; set the stage-B one
    same = float(np.abs(scores_of(restored, xva[:200]) - scores_of(model, xva[:200])).max())
    log(event="restored", max_score_gap=same, resumed_step=int(opt_b.state["step"].item()))

    run_stage("B-bce", restored, opt_b, bce_loss, xtr, ytr, xva, yva, 500, rng, every=125)

    sv = scores_of(restored, xva)
    cuts = tune_cuts(sv, yva)
    st_ = scores_of(restored, xte)
    pred = (st_ > cuts).astype(np.float32)
    all_on = f1_micro(np.ones_like(yte), yte)
    per = {}
    for k, t in enumerate(TAGS):
        per[t] = round(f1_micro(pred[:, k], yte[:, k]), 3)
    log(event="test", map=round(average_precision(st_, yte), 4),
        random_ranking_map=round(float(yte.mean(axis=0).mean()), 4),
        micro_f1=round(f1_micro(pred, yte), 4), all_tags_on_f1=round(all_on, 4),
        cuts=[round(float(c), 2) for c in cuts], per_tag_f1=per,
        secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
