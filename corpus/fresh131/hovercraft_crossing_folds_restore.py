"""Hovercraft ferry crossings: will the crossing run on time, late, or be cancelled?

Synthetic crossing sheets (wind, gust, wave height, tide, visibility, skirt
wear, load), labels sampled from a made-up logit law.  4-fold cross-validation,
a fresh model per fold, compiled SGD-Nesterov step, early stopping with
restore of the best weights per fold, reported through `logging`.
"""
import logging
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s hover: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hover")

rng = np.random.default_rng(2024)
N = 6000
wind = rng.gamma(3.0, 5.0, N)            # knots
gust = wind + rng.gamma(2.0, 3.0, N)
wave = 0.04 * wind + rng.normal(0, 0.3, N).clip(-0.5, 2)
tide = rng.uniform(-1, 1, N)
vis = rng.uniform(0.2, 10, N)            # km
skirt = rng.uniform(0, 1, N)             # wear fraction
load = rng.uniform(0.1, 1.0, N)
F = np.stack([wind, gust, wave, tide, vis, skirt, load], 1).astype(np.float32)
late_logit = 0.10 * (wind - 15) + 1.2 * wave + 1.5 * skirt * load - 0.15 * vis + 0.3
canc_logit = 0.22 * (gust - 30) + 2.0 * (wave - 1.2) - 0.3 * vis - 0.5
logits = np.stack([np.zeros(N), late_logit, canc_logit], 1)
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
y = np.array([rng.choice(3, p=pi) for pi in p], dtype=np.int32)
log.info("class mix on_time/late/cancelled = %s", " / ".join(f"{c:.1%}" for c in np.bincount(y, minlength=3) / N))


class CrossingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        x = self.drop(nn.gelu(self.l1(x)))
        x = nn.gelu(self.l2(x))
        return self.out(x)


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


folds = np.array_split(rng.permutation(N), 4)
summary = []
t0 = time.time()
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    mu, sd = F[tr_idx].mean(0), F[tr_idx].std(0)
    Xtr, ytr = mx.array((F[tr_idx] - mu) / sd), mx.array(y[tr_idx])
    Xva, yva = mx.array((F[va_idx] - mu) / sd), mx.array(y[va_idx])
    majority = np.bincount(y[tr_idx], minlength=3).argmax()
    base_acc = float((y[va_idx] == majority).mean())

    mx.random.seed(100 + k)
    model = CrossingNet()
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    if k == 0:
        _, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])
        nz = sum(1 for _, g in tree_flatten(g0) if float(mx.abs(g).max()) > 0)
        log.info("grad audit: %d/%d parameter tensors with non-zero gradient", nz, len(tree_flatten(g0)))

    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    for ep in range(1, 61):
        model.train()
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        nb = len(tr_idx) // 150
        for b in range(nb):
            ib = perm[b * 150:(b + 1) * 150]
            loss = step(Xtr[ib], ytr[ib])
            mx.eval(state, loss)
            tot += loss.item()
        model.eval()
        lv = model(Xva)
        vloss = nn.losses.cross_entropy(lv, yva, reduction="mean").item()
        vacc = (mx.argmax(lv, 1) == yva).mean().item()
        if ep % 5 == 0 or ep == 1:
            log.info("fold %d ep %02d train_xent %.4f val_xent %.4f val_acc %.2f%% (majority %.2f%%)",
                     k + 1, ep, tot / nb, vloss, 100 * vacc, 100 * base_acc)
        if vloss < best - 1e-4:
            best, best_ep, patience = vloss, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
            if patience >= 8:
                log.warning("fold %d: no val improvement for 8 epochs, stopping at ep %d", k + 1, ep)
                break
    model.update(best_w)
    model.eval()
    lv = model(Xva)
    rl = nn.losses.cross_entropy(lv, yva, reduction="mean").item()
    ra = (mx.argmax(lv, 1) == yva).mean().item()
    log.info("fold %d restored ep %d: val_xent %.4f (best seen %.4f, diff %.1e) val_acc %.2f%%",
             k + 1, best_ep, rl, best, abs(rl - best), 100 * ra)
    summary.append((rl, ra, base_acc))

s = np.array(summary)
log.info("CV  val_xent %.4f +- %.4f | val_acc %.2f%% | majority baseline %.2f%% | %.1fs",
         s[:, 0].mean(), s[:, 0].std(), 100 * s[:, 1].mean(), 100 * s[:, 2].mean(), time.time() - t0)
