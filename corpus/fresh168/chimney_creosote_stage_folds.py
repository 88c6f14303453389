"""Chimney sweep's notebook: which creosote stage will the next sweep find?

stage 1 = dusty soot (brush it), stage 2 = flaky/crunchy (rotary whip),
stage 3 = glazed tar (chemical treatment). Labels are drawn from a made-up
softmax law, so even a perfect model keeps some error.

A fixed random-Fourier layer (frozen on purpose) feeds a small trainable head.
4-fold cross-validation, SGD + Nesterov, early stopping with the best weights put back.
"""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s sweep | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("sweep")

random.seed(77)
mx.random.seed(77)


def visit():
    moisture = random.uniform(8, 35)          # wood moisture %
    flue_c = random.uniform(90, 420)          # flue-gas temp
    burn_h = random.uniform(5, 90)            # burn hours / week
    airwash = float(random.random() < 0.4)
    liner = float(random.random() < 0.55)     # insulated stainless liner
    outside = random.uniform(-15, 10)
    overnight = float(random.random() < 0.35)  # slumbering overnight burns
    months = random.uniform(1, 14)            # since last sweep
    tar = (0.09 * (moisture - 18) - 0.012 * (flue_c - 220) + 0.012 * burn_h
           - 0.6 * airwash - 0.7 * liner - 0.04 * outside + 1.1 * overnight + 0.12 * months)
    logits = [-1.4 * tar, 0.8 - 0.15 * tar * tar, 1.3 * tar - 1.5]
    m = max(logits)
    p = [math.exp(v - m) for v in logits]
    r, acc, lab = random.random() * sum(p), 0.0, 0
    for k, pk in enumerate(p):
        acc += pk
        if r <= acc:
            lab = k
            break
    return [moisture, flue_c, burn_h, airwash, liner, outside, overnight, months], lab


rows = [visit() for _ in range(2000)]
X = mx.array([r[0] for r in rows])
Y = mx.array([r[1] for r in rows])
X = (X - X.mean(0)) / X.std(0)
N = X.shape[0]
counts = [int((Y == k).sum()) for k in range(3)]
log.info("visits=%d  stage counts=%s", N, counts)


class CreosoteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(8, 96)      # fixed random features, never trained
        self.head1 = nn.Linear(96 + 8, 48)
        self.head2 = nn.Linear(48, 3)
        self.rff.freeze()

    def __call__(self, x):
        f = mx.cos(2.0 * self.rff(x))
        h = nn.relu(self.head1(mx.concatenate([f, x], axis=1)))
        return self.head2(h)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def scores(model, x, y):
    lg = model(x)
    pred = mx.argmax(lg, axis=1)
    err = 100.0 * float(mx.mean(pred != y))
    f1s = []
    for k in range(3):
        tp = float(mx.sum((pred == k) & (y == k)))
        fp = float(mx.sum((pred == k) & (y != k)))
        fn = float(mx.sum((pred != k) & (y == k)))
        f1s.append(2 * tp / max(1.0, 2 * tp + fp + fn))
    return float(ce(model, x, y)), err, sum(f1s) / 3


perm = list(range(N))
random.shuffle(perm)
K = 4
fold_err, fold_f1 = [], []
for fold in range(K):
    va_idx = mx.array(perm[fold::K])
    tr_list = [i for j, i in enumerate(perm) if j % K != fold]
    xva, yva = X[va_idx], Y[va_idx]
    model = CreosoteNet()
    mx.eval(model.parameters())
    frozen_before = mx.array(model.rff.weight)
    opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, ce)

    # the head must get gradient, the random features must not be in the trainable set
    _, g = vg(model, X[mx.array(tr_list[:128])], Y[mx.array(tr_list[:128])])
    gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
    if fold == 0:
        log.info("grad norms: %s", ", ".join(f"{k}={v:.3g}" for k, v in gn.items()))

    best, best_ep, wait, best_w = float("inf"), -1, 0, None
    for ep in range(1, 61):
        random.shuffle(tr_list)
        run = 0.0
        nb = 0
        for b in range(0, len(tr_list), 64):
            bi = mx.array(tr_list[b:b + 64])
            loss, g = vg(model, X[bi], Y[bi])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += float(loss)
            nb += 1
        if ep in (25, 40):
            opt.learning_rate = opt.learning_rate * 0.3
        vce, verr, vf1 = scores(model, xva, yva)
        if vce < best - 1e-4:
            best, best_ep, wait = vce, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters())
            mx.eval(best_w)
        else:
            wait += 1
        log.info("fold %d/%d ep %02d | train ce %.3f | val ce %.3f | err %5.1f%% | macroF1 %.3f | best %.3f @%d",
                 fold + 1, K, ep, run / nb, vce, verr, vf1, best, best_ep)
        if wait >= 6:
            log.info("fold %d/%d: no gain for 6 epochs, stopping", fold + 1, K)
            break
    model.update(best_w)
    vce, verr, vf1 = scores(model, xva, yva)
    drift = float(mx.abs(model.rff.weight - frozen_before).max())
    log.info("fold %d/%d restored ep %d: val ce %.3f err %.1f%% macroF1 %.3f (rff max|dW| = %.1e)",
             fold + 1, K, best_ep, vce, verr, vf1, drift)
    fold_err.append(verr)
    fold_f1.append(vf1)

maj = 100.0 * (1 - max(counts) / N)
me = sum(fold_err) / K
sd = (sum((e - me) ** 2 for e in fold_err) / K) ** 0.5
log.info("CV error %.1f%% +- %.1f (majority-stage guess: %.1f%%), macroF1 %.3f", me, sd, maj, sum(fold_f1) / K)
