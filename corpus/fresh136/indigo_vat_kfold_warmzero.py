"""Indigo dye-vat triage: healthy / over-reduced / exhausted from 7 bench readings.

4-fold cross-validation, each fold restarts from fresh weights and a warmup
that begins at exactly lr=0, early stopping restores the best weights.
"""
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s vat: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("vat")

rng = np.random.default_rng(136)
N = 960
ph = rng.normal(10.8, 0.6, N)            # pH
orp = rng.normal(-720, 60, N)            # mV
temp = rng.normal(28, 4, N)              # deg C
days = rng.uniform(0, 14, N)             # days since last feed
bran = rng.uniform(0, 200, N)            # g wheat bran fed
lime = rng.uniform(0, 80, N)             # g slaked lime
froth = rng.gamma(2.0, 1.2, N)           # cm of flower (froth)

score_over = 0.9 * (-(orp + 720) / 60) + 0.7 * (bran / 100 - 1) - 0.5 * (ph - 10.8) / 0.6 + 0.3 * rng.normal(size=N)
score_exh = 0.8 * (days / 7 - 1) + 0.9 * ((orp + 720) / 60) - 0.6 * (froth - 2.4) / 1.7 + 0.3 * rng.normal(size=N)
label = np.zeros(N, dtype=np.int32)
label[score_over > 0.8] = 1
label[(score_exh > 0.9) & (score_over <= 0.8)] = 2

X = np.stack([ph, orp, temp, days, bran, lime, froth], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = label
log.info("class mix healthy/over/exhausted = %s", np.bincount(y, minlength=3).tolist())


class VatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 3)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


folds = np.array_split(rng.permutation(N), 4)
EPOCHS, BS, PATIENCE = 60, 64, 12
summary = []
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[va_idx]), mx.array(y[va_idx])
    base_err = 100.0 * (1 - np.mean(y[va_idx] == np.bincount(y[tr_idx]).argmax()))

    mx.random.seed(1000 + k)
    model = VatNet()
    steps_per_epoch = (len(tr_idx) + BS - 1) // BS
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 5 * steps_per_epoch),
         optim.cosine_decay(3e-3, (EPOCHS - 5) * steps_per_epoch, 1e-4)],
        [5 * steps_per_epoch])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    log.info("fold %d/4 start: train=%d val=%d, baseline err %.1f%%", k + 1, len(tr_idx), len(va_idx), base_err)
    for ep in range(EPOCHS):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for b in range(steps_per_epoch):
            ib = perm[b * BS:(b + 1) * BS]
            loss = step(Xtr[ib], ytr[ib])
            mx.eval(state)
            tot += loss.item() * ib.shape[0]
        tr_loss = tot / len(tr_idx)
        logits = model(Xva)
        va_loss = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        err = 100.0 * (1 - mx.mean(mx.argmax(logits, 1) == yva).item())
        if ep % 6 == 0 or ep == EPOCHS - 1:
            log.info("fold %d ep %02d lr %.2e | train %.4f val %.4f | err %5.1f%% (base %.1f%%)",
                     k + 1, ep, opt.learning_rate.item(), tr_loss, va_loss, err, base_err)
        if va_loss < best - 1e-4:
            best, best_ep, wait = va_loss, ep, 0
            best_w = {kk: mx.array(v) for kk, v in nn.utils.tree_flatten(model.parameters())}
        else:
            wait += 1
            if wait >= PATIENCE:
                log.info("fold %d early stop at ep %d (best ep %d)", k + 1, ep, best_ep)
                break
    model.load_weights(list(best_w.items()))
    mx.eval(model.parameters())
    logits = model(Xva)
    err = 100.0 * (1 - mx.mean(mx.argmax(logits, 1) == yva).item())
    log.info("fold %d restored ep %d: val %.4f err %.1f%%", k + 1, best_ep, best, err)
    summary.append((best, err, base_err))

s = np.array(summary)
log.info("CV mean val %.4f | err %.1f%% +- %.1f | baseline %.1f%%", s[:, 0].mean(), s[:, 1].mean(), s[:, 1].std(), s[:, 2].mean())
