"""Koi pond keeper's notebook: what is wrong with the gills?

4 classes: healthy / ammonia burn / gill flukes / low-oxygen stress, from six
water readings plus the pond's filter type (categorical -> nn.Embedding).

Stage "clear": ponds tested with a lab kit (little noise), the filter-type
embedding is learned.  Stage "murky": hobby test-strip readings (much noisier,
a shifted nitrite scale) are added; the filter-type embedding is frozen on
purpose and only the rest keeps training.  Early stopping on validation
macro-F1 with patience, best weights restored at the end.
"""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s koi: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("koi")

rng = np.random.default_rng(2024)
CLASSES = ["healthy", "ammonia", "flukes", "low_o2"]
N_FILTERS = 5


def sample_ponds(n, strip_noise):
    filt = rng.integers(0, N_FILTERS, n)
    temp = rng.uniform(8, 28, n)
    ammonia = rng.gamma(1.5, 0.15, n)            # mg/L
    nitrite = rng.gamma(1.2, 0.1, n)
    oxygen = rng.uniform(3, 11, n)               # mg/L dissolved O2
    ph = rng.normal(7.6, 0.4, n)
    stocking = rng.uniform(0.5, 3.0, n)          # fish per m3
    filt_bonus = np.array([0.0, 0.4, -0.3, 0.8, -0.6])[filt]
    score = np.stack([
        1.2 + filt_bonus + 0.0 * temp,
        4.0 * ammonia * (ph > 7.5) + 2.5 * ammonia - 0.5 * filt_bonus,
        0.12 * (temp - 14) + 0.5 * stocking - 0.8,
        1.1 * (6.5 - oxygen) + 0.06 * (temp - 18) + 0.3 * stocking,
    ], 1)
    score = score + rng.gumbel(0, 0.35, score.shape)
    y = score.argmax(1)
    x = np.stack([temp, ammonia, nitrite, oxygen, ph, stocking], 1)
    if strip_noise:
        x = x + rng.normal(0, 1, x.shape) * np.array([0.8, 0.12, 0.06, 0.9, 0.25, 0.1])
        x[:, 2] = x[:, 2] * 1.6 + 0.05            # strips read nitrite high
    return x.astype(np.float32), filt.astype(np.int32), y.astype(np.int32)


lab_x, lab_f, lab_y = sample_ponds(5000, False)
strip_x, strip_f, strip_y = sample_ponds(5000, True)
val_x, val_f, val_y = sample_ponds(1500, True)
mu, sd = lab_x.mean(0), lab_x.std(0)
norm = lambda a: (a - mu) / sd


class GillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.filter_emb = nn.Embedding(N_FILTERS, 4)
        self.body = nn.Sequential(nn.Linear(10, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, len(CLASSES))

    def __call__(self, x, f):
        return self.head(self.body(mx.concatenate([x, self.filter_emb(f)], 1)))


def loss_fn(model, x, f, y):
    return nn.losses.cross_entropy(model(x, f), y, reduction="mean")


def macro_f1(model, x, f, y):
    pred = np.array(mx.argmax(model(mx.array(x), mx.array(f)), 1))
    f1s = []
    for c in range(len(CLASSES)):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1s)), float(np.mean(pred == y))


mx.random.seed(0)
model = GillNet()
opt = optim.Adamax(learning_rate=4e-3)
step_fn = nn.value_and_grad(model, loss_fn)

majority = np.bincount(val_y).max() / len(val_y)
log.info("class shares (valid): %s  majority baseline acc=%.3f",
         dict(zip(CLASSES, np.round(np.bincount(val_y, minlength=4) / len(val_y), 3))), majority)

STAGES = [("clear", norm(lab_x), lab_f, lab_y, 6, False),
          ("murky", norm(np.concatenate([lab_x, strip_x])),
           np.concatenate([lab_f, strip_f]), np.concatenate([lab_y, strip_y]), 14, True)]
BATCH, PATIENCE = 100, 3
best = {"f1": -1.0, "weights": None, "where": None}

for stage, X, F, Y, epochs, freeze_emb in STAGES:
    if freeze_emb:
        model.filter_emb.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("stage=%s  samples=%d  trainable=%d  filter_emb frozen=%s",
             stage, len(Y), n_train, freeze_emb)
    # every parameter we mean to train must get a gradient
    _, g = step_fn(model, mx.array(X[:400]), mx.array(F[:400]), mx.array(Y[:400]))
    dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
    assert not dead, dead
    bad_epochs = 0
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(Y))
        nb = len(Y) // BATCH
        run = 0.0
        for b in range(nb):
            i = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, mx.array(X[i]), mx.array(F[i]), mx.array(Y[i]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        val_loss = loss_fn(model, mx.array(norm(val_x)), mx.array(val_f), mx.array(val_y)).item()
        f1, acc = macro_f1(model, norm(val_x), val_f, val_y)
        bar = "#" * 20
        print(f"{stage} ep{epoch:02d}: 100%|{bar}| {nb}/{nb} [train_ce={run / nb:.3f}, "
              f"val_ce={val_loss:.3f}, macroF1={f1:.3f}, acc={100 * acc:.1f}%]")
        if f1 > best["f1"] + 1e-3:
            best = {"f1": f1, "where": f"{stage} ep{epoch}",
                    "weights": [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]}
            bad_epochs = 0
        else:
            bad_epochs += 1
            log.info("no macro-F1 gain for %d epoch(s) (best %.3f at %s)",
                     bad_epochs, best["f1"], best["where"])
            if bad_epochs >= PATIENCE:
                log.info("early stop in stage %s at epoch %d", stage, epoch)
                break

model.load_weights(best["weights"])
mx.eval(model.parameters())
f1, acc = macro_f1(model, norm(val_x), val_f, val_y)
log.info("restored best weights from %s: macroF1=%.3f acc=%.1f%% (majority %.1f%%)",
         best["where"], f1, 100 * acc, 100 * majority)
