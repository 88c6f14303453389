"""Hearing-aid first-fit helper.

Phase 1: learn an audiogram encoder by classifying the hearing-loss configuration
(sloping presbycusis / noise notch / flat / reverse slope) from 8 pure-tone thresholds.
Phase 2: keep that encoder FROZEN and fit a new head that predicts the insertion gain
(dB) per band from a made-up prescription rule; the learning rate warms up from 0.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FREQS = [250, 500, 1000, 1500, 2000, 3000, 4000, 8000]
CLASSES = ["sloping", "notch", "flat", "reverse"]

log = logging.getLogger("firstfit")
logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d %(name)s %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")


def make_audiograms(n, rng):
    f = np.log2(np.array(FREQS, dtype=np.float64) / 250.0)  # 0 .. 5
    kind = rng.integers(0, 4, size=n)
    base = rng.uniform(10, 45, size=(n, 1))
    depth = rng.uniform(15, 45, size=(n, 1))
    hl = np.zeros((n, len(FREQS)))
    slope = base + depth * (f / 5.0) ** 1.5
    notch = base + depth * np.exp(-((f - 4.0) ** 2) / 0.35)
    flat = base + 0.5 * depth + 0.0 * f
    rev = base + depth * (1.0 - f / 5.0) ** 1.5
    for k, arr in enumerate([slope, notch, flat, rev]):
        hl[kind == k] = arr[kind == k]
    hl += rng.normal(0, 4.0, size=hl.shape)
    hl = np.clip(np.round(hl / 5.0) * 5.0, -10, 110)  # audiometers step in 5 dB
    return hl.astype(np.float32), kind.astype(np.int32)


def prescription(hl):
    """Made-up prescription: half-gain rule with PTA correction and compression."""
    pta = hl[:, [1, 2, 4]].mean(axis=1, keepdims=True)
    g = 0.46 * hl + 0.12 * pta - 0.002 * np.maximum(hl - 60, 0) ** 2
    g[:, 0] -= 8.0  # low-frequency cut
    g[:, 1] -= 3.0
    return np.clip(g, 0, 60).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self, d_in=8, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class FitModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.cls_head = nn.Linear(48, len(CLASSES))
        self.gain_head = [nn.Linear(48, 32), nn.Linear(32, len(FREQS))]

    def classify(self, x):
        return self.cls_head(self.enc(x))

    def gains(self, x):
        h = self.enc(x)
        return self.gain_head[1](nn.relu(self.gain_head[0](h)))


def leaf_audit(grads, tag):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    log.info("%s grad audit: %d trainable leaves, zero-gradient leaves: %s",
             tag, len(leaves), zero if zero else "none")
    if zero:
        raise SystemExit("a trainable leaf got no gradient")


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    hl_tr, k_tr = make_audiograms(6000, rng)
    hl_va, k_va = make_audiograms(1500, rng)
    g_tr, g_va = prescription(hl_tr), prescription(hl_va)
    mu, sd = hl_tr.mean(0), hl_tr.std(0) + 1e-6
    X_tr, X_va = mx.array((hl_tr - mu) / sd), mx.array((hl_va - mu) / sd)
    K_tr, K_va = mx.array(k_tr), mx.array(k_va)
    gmu = g_tr.mean(0)
    G_tr, G_va = mx.array(g_tr), mx.array(g_va)
    log.info("data: %d train / %d valid audiograms, classes %s, mean gain %.1f dB",
             len(hl_tr), len(hl_va), np.bincount(k_tr).tolist(), float(g_tr.mean()))

    model = FitModel()
    mx.eval(model.parameters())

    # ---------------- phase 1: configuration classifier --------------------
    model.gain_head[0].freeze()
    model.gain_head[1].freeze()

    def ce_loss(m, x, y):
        return nn.losses.cross_entropy(m.classify(x), y, reduction="mean")

    ce_vg = nn.value_and_grad(model, ce_loss)
    opt1 = optim.Adam(learning_rate=2e-3)
    step = 0
    for epoch in range(1, 9):
        tot, nb = 0.0, 0
        for idx in batches(len(hl_tr), 64, rng):
            loss, grads = ce_vg(model, X_tr[idx], K_tr[idx])
            if step == 0:
                leaf_audit(grads, "phase1")
            opt1.update(model, grads)
            mx.eval(model.parameters(), opt1.state, loss)
            tot += loss.item(); nb += 1; step += 1
        acc = (mx.argmax(model.classify(X_va), axis=1) == K_va).astype(mx.float32).mean().item()
        log.info("phase1 epoch=%d train_ce=%.4f val_acc=%.1f%%", epoch, tot / nb, 100 * acc)

    # ---------------- phase 2: gain head on the frozen encoder -------------
    model.unfreeze()
    model.enc.freeze()
    model.cls_head.freeze()
    enc_before = {k: np.array(v) for k, v in tree_flatten(model.enc.parameters())}
    n_tr = len(model.trainable_parameters()["gain_head"])
    log.info("phase2: encoder frozen, %d gain-head layers trainable", n_tr)

    def gain_loss(m, x, g):
        return nn.losses.mse_loss(m.gains(x) + mx.array(gmu), g, reduction="mean")

    def within3(x, g):
        err = mx.abs(model.gains(x) + mx.array(gmu) - g)
        return (err <= 3.0).astype(mx.float32).mean().item(), mx.sqrt((err ** 2).mean()).item()

    total2 = 3000
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total2 - warm, 1e-5)],
        [warm])
    opt2 = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    gain_vg = nn.value_and_grad(model, gain_loss)
    m3, rmse = within3(X_va, G_va)
    log.info("phase2 step=0 lr=0 val_rmse_db=%.2f within3db=%.1f%% (untrained head)", rmse, 100 * m3)
    pm_rmse = float(np.sqrt(((g_va - gmu) ** 2).mean()))
    log.info("reference: predicting the mean gain per band gives val_rmse_db=%.2f", pm_rmse)
    s = 0
    run = []
    while s < total2:
        for idx in batches(len(hl_tr), 128, rng):
            loss, grads = gain_vg(model, X_tr[idx], G_tr[idx])
            if s == 0:
                leaf_audit(grads, "phase2")
            opt2.update(model, grads)
            mx.eval(model.parameters(), opt2.state, loss)
            run.append(loss.item())
            s += 1
            if s in (1, 10, 30, 60) or s % 500 == 0:
                m3, rmse = within3(X_va, G_va)
                log.info("phase2 step=%d lr=%.2e train_mse=%.3f val_rmse_db=%.2f within3db=%.1f%%",
                         s, float(opt2.learning_rate), float(np.mean(run[-25:])), rmse, 100 * m3)
            if s >= total2:
                break

    enc_after = {k: np.array(v) for k, v in tree_flatten(model.enc.parameters())}
    drift = max(float(np.abs(enc_after[k] - enc_before[k]).max()) for k in enc_before)
    log.info("frozen encoder max |change| over phase 2: %.1e", drift)
    acc = (mx.argmax(model.classify(X_va), axis=1) == K_va).astype(mx.float32).mean().item()
    log.info("classifier still at val_acc=%.1f%%; done in %.1fs", 100 * acc, time.time() - t0)


if __name__ == "__main__":
    main()
