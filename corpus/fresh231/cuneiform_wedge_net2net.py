"""Cuneiform sign classifier from wedge-stroke histograms.

Stage "base": 5 sign classes, MLP 12-16-5.
Stage "grow": the tablet corpus gains 3 new signs.  We do model surgery:
  * Net2Net-widen the hidden layer 16 -> 32 (function preserving),
  * extend the head 5 -> 8 classes (old rows copied, new rows fresh),
then re-create the optimizer and warm the learning rate up from exactly 0.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("wedges")

D, H0, H1 = 12, 16, 32
rng = np.random.default_rng(7)
PROTOS = rng.gamma(2.0, 1.0, size=(8, D)).astype(np.float32)


def tablets(n, n_cls, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, n_cls, size=n)
    counts = r.poisson(PROTOS[y] * 2.0).astype(np.float32)  # wedge counts per stroke type
    x = np.log1p(counts)
    return mx.array(x), mx.array(y.astype(np.int32))


class SignNet(nn.Module):
    def __init__(self, hidden, n_cls):
        super().__init__()
        self.l1 = nn.Linear(D, hidden)
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        return self.head(nn.relu(self.l1(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y, classes=None):
    pred = mx.argmax(model(x), axis=1)
    if classes is not None:
        keep = y < classes
        return (mx.sum((pred == y) * keep) / mx.maximum(mx.sum(keep), 1)).item() * 100
    return mx.mean(pred == y).item() * 100


def run_stage(name, model, n_cls, steps, peak_lr, seed):
    warm = steps // 5
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, steps - warm, peak_lr * 0.05)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    xtr, ytr = tablets(3000, n_cls, seed)
    xva, yva = tablets(600, n_cls, seed + 1)
    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, xtr[:256], ytr[:256])
    norms = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(g)}
    log.info("stage=%s audit grad-norms %s", name, " ".join(f"{k}={v:.3g}" for k, v in norms.items()))
    assert all(v > 0 for v in norms.values())
    bs = 256
    for step in range(steps):
        i = (step * bs) % (3000 - bs)
        loss, grads = vg(model, xtr[i:i + bs], ytr[i:i + bs])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 300 == 0 or step == steps - 1:
            va = loss_fn(model, xva, yva).item()
            log.info("stage=%s step=%d lr=%.2e xent=%.4f val_xent=%.4f acc=%.1f%% old5_acc=%.1f%%",
                     name, step, opt.learning_rate.item(), loss.item(), va,
                     accuracy(model, xva, yva), accuracy(model, xva, yva, classes=5))
    return model


def widen_and_extend(model, new_hidden, new_cls, seed):
    r = np.random.default_rng(seed)
    W1 = np.array(model.l1.weight); b1 = np.array(model.l1.bias)
    W2 = np.array(model.head.weight); b2 = np.array(model.head.bias)
    old_h = W1.shape[0]
    pick = np.concatenate([np.arange(old_h), r.integers(0, old_h, new_hidden - old_h)])
    rep = np.bincount(pick, minlength=old_h).astype(np.float32)
    nW1, nb1 = W1[pick], b1[pick]
    nW2 = W2[:, pick] / rep[pick][None, :]
    grown = SignNet(new_hidden, new_cls)
    fresh_rows = np.array(grown.head.weight)[W2.shape[0]:] * 0.1
    grown.l1.weight = mx.array(nW1); grown.l1.bias = mx.array(nb1)
    grown.head.weight = mx.array(np.concatenate([nW2, fresh_rows], 0))
    grown.head.bias = mx.array(np.concatenate([b2, np.full(new_cls - W2.shape[0], b2.min(), np.float32)]))
    mx.eval(grown.parameters())
    return grown


mx.random.seed(0)
net = SignNet(H0, 5)
mx.eval(net.parameters())
net = run_stage("base", net, 5, 2400, 2e-3, seed=100)

probe, _ = tablets(256, 5, 555)
before = net(probe)
grown = widen_and_extend(net, H1, 8, seed=1)
after = grown(probe)[:, :5]
log.info("surgery audit: hidden %d->%d classes 5->8 max|dlogit(old classes)|=%.2e params %d->%d",
         H0, H1, mx.abs(after - before).max().item(),
         sum(v.size for _, v in tree_flatten(net.parameters())),
         sum(v.size for _, v in tree_flatten(grown.parameters())))
grown = run_stage("grow", grown, 8, 3000, 1.5e-3, seed=200)
xte, yte = tablets(1000, 8, 999)
log.info("summary test acc=%.1f%% (chance %.1f%%) test xent=%.4f (uniform %.4f)",
         accuracy(grown, xte, yte), 100 / 8, loss_fn(grown, xte, yte).item(), math.log(8))
