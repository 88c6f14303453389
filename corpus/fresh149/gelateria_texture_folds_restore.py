"""Ice-cream batch freezer: texture fault of a batch (smooth / icy / sandy / gummy)
from seven mix and freezer readings.  3-fold cross-validation; every fold starts a
fresh model and optimizer, stops early when the held-out log-loss stops improving
and goes back to the best weights it saw.
"""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s gelateria: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("gelateria")

rng = np.random.default_rng(2026)
N = 2400
# readings: overrun %, draw temp C, lactose %, stabiliser %, dwell min, hardening h, total solids %
overrun = rng.uniform(20, 100, N)
draw = rng.uniform(-7, -4, N)
lactose = rng.uniform(4, 9, N)
stab = rng.uniform(0.0, 0.6, N)
dwell = rng.uniform(5, 20, N)
harden = rng.uniform(2, 24, N)
solids = rng.uniform(30, 42, N)
score_icy = 0.08 * (draw + 5.5) * 10 + 0.15 * (dwell - 12) - 4.0 * stab + 0.05 * (36 - solids)
score_sandy = 0.9 * (lactose - 7.0) + 0.06 * (harden - 12)
score_gummy = 5.0 * (stab - 0.35) + 0.02 * (60 - overrun)
logits = np.stack([np.zeros(N) + 0.8, score_icy, score_sandy, score_gummy], 1)
logits += rng.gumbel(size=logits.shape) * 0.35
labels = logits.argmax(1)
X = np.stack([(overrun - 60) / 25, (draw + 5.5) / 0.9, (lactose - 6.5) / 1.5, (stab - 0.3) / 0.18,
              (dwell - 12.5) / 4.4, (harden - 13) / 6.4, (solids - 36) / 3.5], 1).astype(np.float32)
counts = np.bincount(labels, minlength=4)
prior = counts / N
prior_logloss = float(-(prior * np.log(prior)).sum())
log.info("class shares smooth/icy/sandy/gummy = %s", "/".join(f"{100 * c / N:.0f}%" for c in counts))


class TextureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(pred, y):
    f = []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f.append(2 * tp / max(2 * tp + fp + fn, 1))
    return 100 * float(np.mean(f))


folds = np.array_split(rng.permutation(N), 3)
summary = []
for fi in range(3):
    va = folds[fi]
    tr = np.concatenate([folds[j] for j in range(3) if j != fi])
    xtr, ytr = mx.array(X[tr]), mx.array(labels[tr])
    xva, yva = mx.array(X[va]), mx.array(labels[va])
    mx.random.seed(10 + fi)
    model = TextureNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.02)
    vg = nn.value_and_grad(model, loss_fn)
    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    log.info("fold %d/3: train %d, held out %d", fi + 1, len(tr), len(va))
    for ep in range(1, 61):
        model.train()
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        nb = 0
        for i in range(0, len(tr), 64):
            idx = perm[i:i + 64]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        model.eval()
        vlog = loss_fn(model, xva, yva).item()
        if vlog < best - 1e-4:
            best, best_ep, patience = vlog, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
        if ep % 5 == 0 or patience == 0 and ep <= 2:
            f1 = macro_f1(np.array(mx.argmax(model(xva), 1)), labels[va])
            log.info("fold %d ep %02d | fit %.4f | held-out logloss %.4f | macro-F1 %.1f%% | since-best %d",
                     fi + 1, ep, tot / nb, vlog, f1, patience)
        if patience >= 8:
            log.info("fold %d: no gain for 8 epochs, stopping at ep %d", fi + 1, ep)
            break
    model.update(best_w)
    model.eval()
    mx.eval(model.parameters())
    f1 = macro_f1(np.array(mx.argmax(model(xva), 1)), labels[va])
    vlog = loss_fn(model, xva, yva).item()
    log.info("fold %d: restored ep %d weights -> logloss %.4f, macro-F1 %.1f%% (class-prior guess logloss %.4f)",
             fi + 1, best_ep, vlog, f1, prior_logloss)
    summary.append((vlog, f1))

m = np.mean(summary, 0)
log.info("cv mean: logloss %.4f macro-F1 %.1f%%", m[0], m[1])
