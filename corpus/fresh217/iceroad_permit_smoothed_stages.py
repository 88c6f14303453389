"""Winter ice-road patrol: grade a road segment into 4 load-permit classes
(closed / light vehicles / 20-t trucks / full 60-t loads) from 8 synthetic
patrol readings.  Some patrol records were never graded (label -1): they are
ignored in the loss.  Rare classes get inverse-frequency weights, and the
cross entropy uses label smoothing 0.1.

Two stages on purpose:
  stage 1 - only the clear-cut segments, the input projection is FROZEN
            (acts as fixed random features), head trained alone;
  stage 2 - the ambiguous segments are added and everything is unfrozen,
            so the loss jumps up at the stage boundary before it falls again.
Hand-written SGD with Nesterov momentum; logging module output.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("iceroad")

rng = np.random.default_rng(2026)
N = 3000
thick = rng.normal(75, 20, N)            # cm of ice
fdd = rng.normal(900, 250, N)            # freezing degree-days
snow = rng.gamma(2, 6, N)                # cm insulating snow
cracks = rng.poisson(2, N).astype(float) # wet cracks per km
current = rng.uniform(0, 1.2, N)         # m/s water under ice
air = rng.normal(-18, 8, N)              # deg C
slush = rng.beta(1.5, 6, N)
traffic = rng.gamma(3, 20, N)            # loads per day
score = (0.06 * thick + 0.003 * fdd - 0.05 * snow - 0.35 * cracks - 1.8 * current
         - 0.04 * air - 3.0 * slush - 0.004 * traffic)
score += rng.normal(0, 0.45, N)
cuts = np.quantile(score, [0.12, 0.40, 0.78])
labels = np.digitize(score, cuts).astype(np.int32)       # 0..3, classes 0 and 3 rarer
margin = np.min(np.abs(score[:, None] - cuts[None, :]), axis=1)
easy = margin > 0.5
ungraded = rng.uniform(0, 1, N) < 0.15
labels_obs = np.where(ungraded, -1, labels).astype(np.int32)

X = np.stack([thick, fdd, snow, cracks, current, air, slush, traffic], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
perm = rng.permutation(N)
tr, va = perm[:2400], perm[2400:]

counts = np.bincount(labels_obs[tr][labels_obs[tr] >= 0], minlength=4)
class_w = mx.array((counts.sum() / (4.0 * counts)).astype(np.float32))
IGNORE = -1


class PermitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 64)
        self.hidden = nn.Linear(64, 32)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        h = nn.gelu(self.proj(x))
        h = nn.gelu(self.hidden(h))
        return self.head(h)


def weighted_smoothed_ce(model, xb, yb):
    logits = model(xb)
    valid = yb != IGNORE
    safe = mx.where(valid, yb, 0)
    per = nn.losses.cross_entropy(logits, safe, label_smoothing=0.1, reduction="none")
    w = class_w[safe] * valid.astype(mx.float32)
    return (per * w).sum() / mx.maximum(w.sum(), 1e-6)


def plain_ce(model, xb, yb):
    valid = yb != IGNORE
    safe = mx.where(valid, yb, 0)
    per = nn.losses.cross_entropy(model(xb), safe, reduction="none")
    return (per * valid).sum() / valid.sum()


mx.random.seed(7)
model = PermitNet()
mx.eval(model.parameters())
proj_w0 = mx.array(model.proj.weight)
LR, MOM, WD, BATCH = 0.05, 0.9, 1e-4, 48
Xva, yva = mx.array(X[va]), mx.array(labels[va])


def sgd_nesterov(params, grads, vel, lr):
    new_vel = tree_map(lambda v, g, p: MOM * v + g + WD * p, vel, grads, params)
    new_p = tree_map(lambda p, g, v, w: p - lr * (g + WD * w + MOM * v), params, grads, new_vel, params)
    return new_p, new_vel


def evaluate():
    logits = model(Xva)
    acc = float((mx.argmax(logits, axis=1) == yva).mean()) * 100
    per_class = [float(((mx.argmax(logits, 1) == yva) * (yva == c)).sum() / (yva == c).sum()) * 100
                 for c in range(4)]
    return plain_ce(model, Xva, yva).item(), acc, per_class


t0 = time.time()
gstep = 0
for stage, epochs in ((1, 12), (2, 30)):
    if stage == 1:
        model.proj.freeze()
        idx = tr[easy[tr]]
    else:
        model.unfreeze()
        idx = tr
    vel = tree_map(mx.zeros_like, model.trainable_parameters())
    loss_and_grad = nn.value_and_grad(model, weighted_smoothed_ce)
    trainable = dict(tree_flatten(model.trainable_parameters()))
    log.info("stage %d: %d segments (%.1f%% ungraded), %d trainable tensors: %s", stage, len(idx),
             100 * float((labels_obs[idx] == IGNORE).mean()), len(trainable), ",".join(sorted(trainable)))
    for ep in range(epochs):
        order = np.random.default_rng(31 * stage + ep).permutation(idx)
        run, nb = 0.0, 0
        for i in range(0, len(order) - BATCH + 1, BATCH):
            b = order[i:i + BATCH]
            loss, grads = loss_and_grad(model, mx.array(X[b]), mx.array(labels_obs[b]))
            params = model.trainable_parameters()
            lr = LR * (0.5 * (1 + np.cos(np.pi * ep / epochs)))
            new_p, vel = sgd_nesterov(params, grads, vel, lr)
            model.update(new_p)
            mx.eval(loss, model.parameters(), vel)
            run += loss.item()
            nb += 1
            gstep += 1
        if ep == 0 or ep % 3 == 2 or ep == epochs - 1:
            gnorm = float(mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads))))
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            vce, vacc, pc = evaluate()
            log.info("stage %d ep %02d step %5d | lr %.4f | train smooth_wce %.4f | val ce %.4f acc %.1f%% "
                     "| per-class %s | majority-ref %.1f%%", stage, ep, gstep, lr, run / nb, vce, vacc,
                     "/".join(f"{p:.0f}" for p in pc), 100 * float((yva == 2).mean()))
            log.info("  audit: grad_norm=%.4f zero_grad_tensors=%s frozen_proj_drift=%.2e", gnorm, zero or "none",
                     float(mx.abs(model.proj.weight - proj_w0).max()))

vce, vacc, pc = evaluate()
log.info("done in %.1fs: val ce %.4f, acc %.1f%%, per-class recall %s", time.time() - t0, vce, vacc,
         ", ".join(f"c{c}={p:.1f}%" for c, p in enumerate(pc)))
