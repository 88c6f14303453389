"""Pipe-organ workshop: how will a flue pipe speak?

A voicer logs 7 measurements per flue pipe (cut-up ratio, toe-hole diameter,
flue width, wind pressure, languid height, mouth-width ratio, scale offset) and
the way the pipe speaks once voiced: 0 = prompt, 1 = chiffy, 2 = slow,
3 = overblowing.  Synthetic data, made-up acoustics.

5-fold cross-validation: every fold trains a fresh MLP with Lion, a learning
rate that warms up from exactly 0 and then follows a cosine, an mx.compile'd
step, and early stopping that puts the best-epoch weights back before scoring.
"""

import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s voicing: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("voicing")

rng = np.random.default_rng(2024)
N, K, FOLDS = 5000, 4, 5


def make_pipes(n):
    cutup = rng.normal(0.27, 0.05, n)            # cut-up / mouth width
    toe = rng.normal(6.0, 1.5, n)                # mm
    flue = rng.normal(0.9, 0.2, n)               # mm
    wind = rng.normal(75.0, 12.0, n)             # mm water gauge
    languid = rng.normal(0.0, 0.3, n)            # mm above/below lower lip
    mouth = rng.normal(0.25, 0.03, n)            # of circumference
    scale = rng.normal(0.0, 2.0, n)              # half-tones off normal scale
    drive = (toe / 6.0) ** 2 * flue * wind / 75.0 / (cutup / 0.27)
    s_prompt = 1.2 - 3.0 * np.abs(drive - 1.0) - 2.0 * np.abs(languid)
    s_chiff = 0.8 + 4.0 * languid - 8.0 * (cutup - 0.27)
    s_slow = 1.5 * (1.0 - drive) + 10.0 * (cutup - 0.27) + 0.15 * scale
    s_over = 2.5 * (drive - 1.2) - 0.1 * scale + 6.0 * (0.25 - mouth)
    logits = np.stack([s_prompt, s_chiff, s_slow, s_over], 1) * 2.0
    g = rng.gumbel(size=logits.shape)
    y = np.argmax(logits + g, axis=1)
    x = np.stack([cutup, toe, flue, wind, languid, mouth, scale], 1)
    return x.astype(np.float32), y.astype(np.int32)


X_all, Y_all = make_pipes(N)
fold_of = rng.permutation(N) % FOLDS
log.info("pipes=%d  speech classes prompt/chiffy/slow/overblowing = %s", N,
         np.bincount(Y_all, minlength=K).tolist())


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.head = nn.Linear(96, K)

    def __call__(self, x):
        return self.head(self.body(x))


def macro_f1(pred, y):
    f1s = []
    for c in range(K):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100.0 * float(np.mean(f1s))


EPOCHS, BATCH, PATIENCE = 60, 100, 8
t_start = time.time()
fold_scores = []
for fold in range(FOLDS):
    tr, va = fold_of != fold, fold_of == fold
    mu, sd = X_all[tr].mean(0), X_all[tr].std(0)
    Xtr, Ytr = mx.array((X_all[tr] - mu) / sd), mx.array(Y_all[tr])
    Xva, Yva = mx.array((X_all[va] - mu) / sd), Y_all[va]
    steps_per_epoch = (Xtr.shape[0] + BATCH - 1) // BATCH

    mx.random.seed(100 + fold)
    model = VoicingNet()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 1e-3, 3 * steps_per_epoch)
    cos = optim.cosine_decay(1e-3, (EPOCHS - 3) * steps_per_epoch, 5e-5)
    opt = optim.Lion(learning_rate=optim.join_schedules([warm, cos], [3 * steps_per_epoch]),
                     weight_decay=1e-2)

    def loss_fn(m, xb, yb):
        return mx.mean(nn.losses.cross_entropy(m(xb), yb))

    vg = nn.value_and_grad(model, loss_fn)
    log.info("fold %d/%d  train %d / val %d pipes  lr %.2e at step 0 -> %.2e at step %d",
             fold + 1, FOLDS, Xtr.shape[0], Xva.shape[0], float(warm(0).item()),
             float(warm(3 * steps_per_epoch).item()), 3 * steps_per_epoch)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    if fold == 0:
        _, g0 = vg(model, Xtr[:BATCH], Ytr[:BATCH])
        dead = [k for k, g in tree_flatten(g0) if float(mx.max(mx.abs(g)).item()) == 0.0]
        log.info("grad check before training: %d tensors, %d with all-zero grad",
                 len(tree_flatten(g0)), len(dead))

    best_nll, best_epoch, best_params, wait = float("inf"), -1, None, 0
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = train_step(Xtr[idx], Ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
        logits = model(Xva)
        nll = float(mx.mean(nn.losses.cross_entropy(logits, mx.array(Yva))).item())
        f1 = macro_f1(np.array(mx.argmax(logits, axis=1)), Yva)
        lr_now = float(opt.learning_rate.item())
        if epoch == 1 or epoch % 5 == 0:
            log.info("fold %d/%d epoch %2d  lr %.2e  train_ce %.4f  val_nll %.4f  macroF1 %.1f%%",
                     fold + 1, FOLDS, epoch, lr_now, run / steps_per_epoch, nll, f1)
        if nll < best_nll - 1e-4:
            best_nll, best_epoch, wait = nll, epoch, 0
            best_params = model.parameters()     # arrays are immutable: a snapshot
        else:
            wait += 1
            if wait >= PATIENCE:
                log.info("fold %d/%d stop at epoch %d (no val_nll gain for %d epochs)",
                         fold + 1, FOLDS, epoch, PATIENCE)
                break

    model.update(best_params)
    mx.eval(model.parameters())
    logits = model(Xva)
    nll = float(mx.mean(nn.losses.cross_entropy(logits, mx.array(Yva))).item())
    f1 = macro_f1(np.array(mx.argmax(logits, axis=1)), Yva)
    majority = 100.0 * np.mean(Yva == np.bincount(Y_all[tr]).argmax())
    log.info("fold %d/%d restored epoch %d  val_nll %.4f  macroF1 %.1f%%  acc %.1f%% (majority-class acc %.1f%%)",
             fold + 1, FOLDS, best_epoch, nll, f1,
             100.0 * float(np.mean(np.array(mx.argmax(logits, axis=1)) == Yva)), majority)
    fold_scores.append((nll, f1))

nlls, f1s = np.array(fold_scores).T
log.info("CV summary  val_nll %.4f +/- %.4f   macroF1 %.1f%% +/- %.1f   (chance nll %.4f)  %.1fs",
         nlls.mean(), nlls.std(), f1s.mean(), f1s.std(), np.log(K), time.time() - t_start)
