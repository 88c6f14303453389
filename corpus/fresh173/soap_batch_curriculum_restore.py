"""Cold-process soap workshop: 4-way batch outcome from the batch sheet.

classes: 0 good bar, 1 soft/oily (under-lyed), 2 lye-heavy (zappy), 3 seized
features: superfat %, water:lye ratio, oil temp C, lye temp C, fragrance %,
          stick-blend minutes, coconut %, olive %
Synthetic data with a made-up rule + noise.

Curriculum: stage "bench" = clear-cut batches, clean labels; stage "market" adds
borderline batches and 8% mislabelled sheets, so the held-out loss jumps when it
starts.  Each stage has early stopping (patience) and restores its best weights.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s soapnet | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("soap")

rng = np.random.default_rng(2211)
NAMES = ["good", "soft", "zappy", "seized"]


def batches(n, borderline, flip):
    superfat = rng.uniform(-4, 14, n)
    water = rng.uniform(1.6, 3.2, n)
    oil_t = rng.uniform(25, 60, n)
    lye_t = rng.uniform(20, 65, n)
    frag = rng.uniform(0, 6, n)
    blend = rng.uniform(0.5, 8, n)
    coco = rng.uniform(0, 40, n)
    olive = rng.uniform(0, 80, n)
    X = np.stack([superfat, water, oil_t, lye_t, frag, blend, coco, olive], 1)
    # latent scores
    zap = -0.9 * superfat + 0.05 * coco - 1.0
    soft = 0.45 * (superfat - 9) + 0.03 * olive - 0.6 * (blend - 2) - 1.5
    seize = 0.6 * frag + 0.08 * np.abs(oil_t - lye_t) + 0.9 * (2.2 - water) - 4.5
    good = np.zeros(n) + 0.5
    S = np.stack([good, soft, zap, seize], 1)
    S = S + rng.normal(0, 0.35 if not borderline else 1.1, S.shape)
    y = S.argmax(1)
    if not borderline:       # bench stage: keep only batches with a clear winner
        srt = np.sort(S, 1)
        keep = (srt[:, -1] - srt[:, -2]) > 1.0
        X, y = X[keep], y[keep]
    if flip > 0:
        f = rng.random(len(y)) < flip
        y = np.where(f, rng.integers(0, 4, len(y)), y)
    return X, y


Xb, yb = batches(9000, borderline=False, flip=0.0)
Xm, ym = batches(5000, borderline=True, flip=0.08)
Xv_b, yv_b = batches(3000, borderline=False, flip=0.0)
Xv_m, yv_m = batches(1500, borderline=True, flip=0.08)
mu, sd = Xb.mean(0), Xb.std(0)


def prep(X, y):
    return mx.array(((X - mu) / sd).astype(np.float32)), mx.array(y.astype(np.int32))


stages = [
    ("bench", prep(Xb, yb), prep(Xv_b, yv_b)),
    ("market", prep(np.concatenate([Xb[:3000], Xm]), np.concatenate([yb[:3000], ym])),
     prep(np.concatenate([Xv_b[:700], Xv_m]), np.concatenate([yv_b[:700], yv_m]))),
]


class SoapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        return self.head(self.body(x))


mx.random.seed(5)
net = SoapNet()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=5e-3)


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(net, xent)


def evaluate(x, y):
    logits = net(x)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    pred = np.array(logits.argmax(1))
    yy = np.array(y)
    acc = (pred == yy).mean()
    f1s = []
    for k in range(4):
        tp = ((pred == k) & (yy == k)).sum()
        fp = ((pred == k) & (yy != k)).sum()
        fn = ((pred != k) & (yy == k)).sum()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return nll, 100 * acc, float(np.mean(f1s))


def snapshot():
    return tree_map(lambda a: mx.array(a), net.parameters())


t0 = time.time()
BATCH, PATIENCE, MAX_EPOCHS = 256, 4, 30
log.info("%-7s %5s %9s %9s %8s %7s", "stage", "ep", "train", "heldout", "acc", "mF1")
for sname, (xtr, ytr), (xva, yva) in stages:
    best = (float("inf"), None, -1)
    bad = 0
    n = xtr.shape[0]
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(np.random.default_rng(ep + 100 * len(sname)).permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = grad_fn(net, xtr[idx], ytr[idx])
            opt.update(net, grads)
            mx.eval(loss, net.parameters(), opt.state)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
        nll, acc, mf1 = evaluate(xva, yva)
        flag = ""
        if nll < best[0] - 1e-4:
            best = (nll, snapshot(), ep)
            bad = 0
            flag = " *"
        else:
            bad += 1
        log.info("%-7s %5d %9.4f %9.4f %7.2f%% %7.3f%s", sname, ep, tot / cnt, nll, acc, mf1, flag)
        if bad >= PATIENCE:
            log.info("%s: no held-out gain for %d epochs, stopping at epoch %d", sname, PATIENCE, ep)
            break
    net.update(best[1])
    mx.eval(net.parameters())
    nll, acc, mf1 = evaluate(xva, yva)
    log.info("%s: restored epoch %d weights -> heldout %.4f (best was %.4f) acc %.2f%% mF1 %.3f",
             sname, best[2], nll, best[0], acc, mf1)

# final report on both held-out sets, with a majority-class reference
for sname, _, (xva, yva) in stages:
    nll, acc, mf1 = evaluate(xva, yva)
    maj = 100 * np.bincount(np.array(yva), minlength=4).max() / yva.shape[0]
    log.info("final %-7s nll %.4f | acc %.2f%% (majority-class %.2f%%) | mF1 %.3f", sname, nll, acc, maj, mf1)
pn = sum(float(mx.sum(v * v).item()) for _, v in tree_flatten(net.parameters())) ** 0.5
log.info("param L2 %.3f | wall %.1fs", pn, time.time() - t0)
