"""Smart water meters: leak triage with very few labels.

Stage 1 (self-supervised): a masked-reading autoencoder learns the shape of
24 hourly consumption readings from 20000 unlabelled meter-days: 25% of the
hours are replaced by a learned mask value and the net reconstructs them.
Stage 2 (probe): the encoder is frozen on purpose; only a new 3-way head
(no leak / slow leak / burst) trains on 240 labelled meter-days.
Stage 3 (fine-tune): the encoder is unfrozen and trains together with the
head at a ten times smaller learning rate.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

HOURS = 24
CLASSES = ["no_leak", "slow_leak", "burst"]

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(phase)-9s %(message)s")
base_log = logging.getLogger("meters")


def meter_days(n, rng, labelled):
    h = np.arange(HOURS)
    morning = np.exp(-0.5 * ((h - rng.uniform(6, 8.5, (n, 1))) / 1.2) ** 2)
    evening = np.exp(-0.5 * ((h - rng.uniform(18, 21, (n, 1))) / 1.8) ** 2)
    household = rng.lognormal(0.0, 0.35, (n, 1))
    flow = household * (1.6 * morning + 1.1 * evening + 0.15)      # litres per minute
    flow = flow * rng.lognormal(0.0, 0.25, (n, HOURS))
    flow = flow * (rng.random((n, HOURS)) > 0.2)                    # idle hours read ~0
    y = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    slow = rng.uniform(0.05, 0.25, n)
    flow[y == 1] += slow[y == 1, None]                              # a running toilet all day
    start = rng.integers(0, HOURS, n)
    burst = (h[None, :] >= start[:, None]) * rng.uniform(0.8, 2.5, (n, 1))
    flow[y == 2] += burst[y == 2]
    flow += np.abs(rng.normal(0, 0.03, (n, HOURS)))                 # meter jitter
    return np.log1p(flow).astype(np.float32), y.astype(np.int32)


class Encoder(nn.Module):
    def __init__(self, width=64, code=16):
        super().__init__()
        self.l1 = nn.Linear(2 * HOURS, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, code)

    def __call__(self, x, seen):
        h = nn.gelu(self.l1(mx.concatenate([x, seen], axis=-1)))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)


class MaskedPretrainer(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.mask_value = mx.zeros((HOURS,))
        self.decoder = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, HOURS))

    def __call__(self, x, hide):
        seen = 1.0 - hide
        x_in = x * seen + self.mask_value * hide
        return self.decoder(self.encoder(x_in, seen))


class LeakClassifier(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(16, len(CLASSES))

    def __call__(self, x):
        return self.head(nn.gelu(self.encoder(x, mx.ones_like(x))))


def masked_mse(model, x, hide):
    err = (model(x, hide) - x) ** 2 * hide
    return err.sum() / hide.sum()


def leak_ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def grad_audit(log, grads):
    flat = tree_flatten(grads)
    zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    log.info("first-step gradient arrays: %d, all non-zero: %s%s", len(flat), not zero,
             "" if not zero else f" zero={zero}")


def accuracy_report(model, x, y):
    pred = np.array(mx.argmax(model(x), axis=-1))
    acc = float(np.mean(pred == y)) * 100
    burst_recall = float(np.mean(pred[y == 2] == 2)) * 100
    ce = float(leak_ce(model, x, mx.array(y)))
    return ce, acc, burst_recall


def main():
    rng = np.random.default_rng(1081)
    mx.random.seed(1081)
    X_unl, _ = meter_days(20000, rng, labelled=False)
    X_lab, y_lab = meter_days(240, rng, labelled=True)
    X_test, y_test = meter_days(3000, rng, labelled=True)
    Xu, Xl, Xt = mx.array(X_unl), mx.array(X_lab), mx.array(X_test)
    yl = mx.array(y_lab)

    encoder = Encoder()
    pre = MaskedPretrainer(encoder)
    mx.eval(pre.parameters())

    # ---- stage 1: masked-reading pretraining -------------------------------------
    log = logging.LoggerAdapter(base_log, {"phase": "pretrain"})
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 1200, 3e-4))
    vg = nn.value_and_grad(pre, masked_mse)
    val_hide = mx.array((rng.random((2000, HOURS)) < 0.25).astype(np.float32))
    base_mse = float(((Xu[:2000] - Xu.mean(axis=0)) ** 2 * val_hide).sum() / val_hide.sum())
    log.info("unlabelled meter-days %d, filling hidden hours with the hourly mean gives MSE %.4f",
             X_unl.shape[0], base_mse)
    t0 = time.perf_counter()
    window = []
    for step in range(1, 1201):
        idx = mx.array(rng.integers(0, X_unl.shape[0], 128))
        hide = mx.array((rng.random((128, HOURS)) < 0.25).astype(np.float32))
        loss, grads = vg(pre, Xu[idx], hide)
        if step == 1:
            grad_audit(log, grads)
        opt.update(pre, grads)
        mx.eval(pre.parameters(), opt.state, loss)
        window.append(float(loss))
        if step % 200 == 0:
            val = float(masked_mse(pre, Xu[:2000], val_hide))
            log.info("step %4d  train masked MSE %.4f  check-set masked MSE %.4f  (%.1fs)",
                     step, np.mean(window), val, time.perf_counter() - t0)
            window = []

    # ---- stage 2: frozen encoder, linear head on 240 labels ----------------------
    log = logging.LoggerAdapter(base_log, {"phase": "probe"})
    clf = LeakClassifier(encoder)
    clf.encoder.freeze()
    frozen_copy = tree_map(lambda a: mx.array(a), clf.encoder.parameters())
    n_train = len(tree_flatten(clf.trainable_parameters()))
    ce0, acc0, br0 = accuracy_report(clf, Xt, y_test)
    log.info("encoder frozen on purpose: %d trainable arrays (head only); untrained head: "
             "test CE %.3f nats, accuracy %.1f%%", n_train, ce0, acc0)
    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    vg = nn.value_and_grad(clf, leak_ce)
    for epoch in range(1, 41):
        order = rng.permutation(len(y_lab))
        for b in range(0, len(order), 40):
            idx = mx.array(order[b:b + 40])
            loss, grads = vg(clf, Xl[idx], yl[idx])
            if epoch == 1 and b == 0:
                grad_audit(log, grads)
            opt.update(clf, grads)
            mx.eval(clf.trainable_parameters(), opt.state, loss)
        if epoch % 10 == 0:
            ce, acc, br = accuracy_report(clf, Xt, y_test)
            log.info("epoch %2d  labelled CE %.3f  test CE %.3f  test accuracy %.1f%%  "
                     "burst recall %.1f%%", epoch, float(leak_ce(clf, Xl, yl)), ce, acc, br)
    drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
                zip(tree_flatten(clf.encoder.parameters()), tree_flatten(frozen_copy)))
    log.info("largest change of any frozen encoder weight: %.1e", drift)

    # ---- stage 3: unfreeze and fine-tune everything gently -----------------------
    log = logging.LoggerAdapter(base_log, {"phase": "finetune"})
    clf.encoder.unfreeze()
    log.info("encoder unfrozen: %d trainable arrays", len(tree_flatten(clf.trainable_parameters())))
    opt = optim.SGD(learning_rate=0.01, momentum=0.9)
    vg = nn.value_and_grad(clf, leak_ce)
    for epoch in range(1, 31):
        order = rng.permutation(len(y_lab))
        for b in range(0, len(order), 40):
            idx = mx.array(order[b:b + 40])
            loss, grads = vg(clf, Xl[idx], yl[idx])
            if epoch == 1 and b == 0:
                grad_audit(log, grads)
            opt.update(clf, grads)
            mx.eval(clf.parameters(), opt.state, loss)
        if epoch % 10 == 0:
            ce, acc, br = accuracy_report(clf, Xt, y_test)
            log.info("epoch %2d  labelled CE %.3f  test CE %.3f  test accuracy %.1f%%  "
                     "burst recall %.1f%%", epoch, float(leak_ce(clf, Xl, yl)), ce, acc, br)
    log.info("done in %.1fs; class shares in the test set: %s", time.perf_counter() - t0,
             ", ".join(f"{c} {100 * np.mean(y_test == i):.0f}%" for i, c in enumerate(CLASSES)))


if __name__ == "__main__":
    main()
