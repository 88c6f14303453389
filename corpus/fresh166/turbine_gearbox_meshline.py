"""Wind-turbine gearbox monitor: classify 32-bin vibration spectrum frames as
healthy / shaft imbalance / gear-mesh tooth fault with a tiny 1-D conv net.
Warmup from lr=0, compiled step, early stopping with best-weight restore."""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(levelname)s %(name)s | %(message)s", level=logging.INFO)
log = logging.getLogger("gearbox-cm")

NBINS = 32


def make_frames(n, key):
    k1, k2, k3, k4, k5, k6 = mx.random.split(key, 6)
    labels = mx.random.randint(0, 3, (n,), key=k1)
    bins = mx.arange(NBINS, dtype=mx.float32)[None, :]
    tilt = mx.random.uniform(0.5, 1.5, (n, 1), key=k2)
    base = -tilt * mx.log1p(bins) / 2.0  # healthy broadband floor
    # imbalance: broad bumps at shaft orders 1x, 1.9x, 2.7x
    f0 = mx.random.uniform(4, 10, (n, 1), key=k3)
    imbal = sum(0.9 * mx.exp(-((bins - f0 * h) ** 2) / (2 * 2.2 ** 2)) for h in (1.0, 1.9, 2.7))
    # tooth fault: one narrow tall mesh line at a random bin (weak faults are hard)
    pos = mx.random.uniform(6, 28, (n, 1), key=k4)
    amp = mx.random.uniform(0.6, 2.2, (n, 1), key=k5)
    fault = amp * mx.exp(-((bins - pos) ** 2) / (2 * 0.6 ** 2))
    noise = 0.35 * mx.random.normal((n, NBINS), key=k6)
    is_sp = (labels == 1)[:, None]
    is_hw = (labels == 2)[:, None]
    x = base + noise + mx.where(is_sp, imbal, 0.0) + mx.where(is_hw, fault + 0.4 * imbal, 0.0)
    return x[..., None], labels


class MeshNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(8, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        feats = mx.concatenate([h.max(axis=1), h.mean(axis=1)], axis=-1)
        return self.head(feats)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    pred = logits.argmax(axis=-1)
    acc = (pred == y).mean()
    fault = y == 2
    recall = ((pred == 2) & fault).sum() / fault.sum()
    false_alarm = ((pred == 2) & ~fault).sum() / (~fault).sum()
    mx.eval(loss, acc, recall, false_alarm)
    return loss.item(), acc.item(), recall.item(), false_alarm.item()


def main():
    mx.random.seed(11)
    xtr, ytr = make_frames(3000, mx.random.key(1))
    xva, yva = make_frames(800, mx.random.key(2))

    model = MeshNet()
    mx.eval(model.parameters())

    # audit: every weight must receive gradient before we start
    _, g0 = nn.value_and_grad(model, xent)(model, xtr[:256], ytr[:256])
    for name, g in tree_flatten(g0):
        log.info("audit grad |%s| = %.3e", name, mx.linalg.norm(g.reshape(-1)).item())

    batch, epochs, patience = 64, 30, 4
    steps_per_epoch = math.ceil(3000 / batch)
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, epochs * steps_per_epoch - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    loss_and_grad = nn.value_and_grad(model, xent)

    state = [model.state, opt.state]


    def _raw(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    step = mx.compile(_raw, inputs=state, outputs=state)

    v0 = evaluate(model, xva, yva)
    log.info("init     | val_xent %.4f | acc %5.1f%% | fault recall %5.1f%% | false alarm %5.1f%% | chance xent %.4f",
             v0[0], 100 * v0[1], 100 * v0[2], 100 * v0[3], math.log(3))

    best, best_ep, best_params, bad = float("inf"), -1, None, 0
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(3000)
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item() * idx.shape[0]
        vl, va, vr, vf = evaluate(model, xva, yva)
        lr_now = opt.learning_rate.item()
        log.info("ep %02d    | lr %.2e | train_xent %.4f | val_xent %.4f | acc %5.1f%% | fault recall %5.1f%% | false alarm %5.1f%%",
                 ep, lr_now, tot / 3000, vl, 100 * va, 100 * vr, 100 * vf)
        if vl < best - 1e-4:
            best, best_ep, bad = vl, ep, 0
            best_params = tree_map(lambda a: a, model.parameters())
        else:
            bad += 1
            if bad >= patience:
                log.warning("no val improvement for %d epochs, stopping at ep %d", patience, ep)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    vl, va, vr, vf = evaluate(model, xva, yva)
    log.info("restored ep %02d | val_xent %.4f | acc %5.1f%% | fault recall %5.1f%% | false alarm %5.1f%% | %.1fs",
             best_ep, vl, 100 * va, 100 * vr, 100 * vf, time.time() - t0)


if __name__ == "__main__":
    main()
