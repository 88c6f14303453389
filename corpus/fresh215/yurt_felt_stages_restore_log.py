"""Felt-making cooperative: grade a rolled yurt-felt batch as firm / soft / patchy
from 8 workshop readings. Two stages: 'rolling' trains only the head on a frozen
random encoder, 'fulling' unfreezes everything with a fresh optimizer whose
learning rate starts at exactly 0 (linear warm-up, then cosine). Early stopping
with restore of the best weights. Output goes through the logging module.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s felt: %(message)s")
log = logging.getLogger("felt")

mx.random.seed(5)
CLASSES = ["firm", "soft", "patchy"]


def make_batches(n, key):
    k = mx.random.split(key, 3)
    raw = mx.random.normal((n, 8), key=k[0])
    micron, grease, water_t, roll_min, soap, layers, humid, press = [raw[:, i] for i in range(8)]
    firm_score = 1.2 * roll_min + 0.8 * press - 0.9 * micron + 0.5 * soap * water_t
    patch_score = 1.1 * grease - 0.7 * layers + 0.6 * humid + 0.4 * micron * micron
    soft_score = 0.3 * mx.ones_like(micron) - 0.4 * roll_min
    logits = mx.stack([firm_score, soft_score, patch_score], axis=1)
    logits = logits + 0.6 * mx.random.normal(logits.shape, key=k[1])
    return raw, mx.argmax(logits, axis=1)


X_tr, y_tr = make_batches(3000, mx.random.key(10))
X_va, y_va = make_batches(600, mx.random.key(20))


class FeltGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        return self.head(self.encoder(x))


model = FeltGrader()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def evaluate():
    pred = mx.argmax(model(X_va), axis=1)
    wrong = mx.sum(pred != y_va).item()
    vloss = loss_fn(model, X_va, y_va).item()
    return vloss, 100.0 * (1 - wrong / X_va.shape[0]), wrong


counts = [mx.sum(y_va == c).item() for c in range(3)]
majority = 100.0 * max(counts) / X_va.shape[0]
log.info("val mix %s | majority-class baseline %.1f%%",
         " ".join(f"{n}={c}" for n, c in zip(CLASSES, counts)), majority)

BATCH = 100
STEPS_PER_EPOCH = X_tr.shape[0] // BATCH


def run_epoch(opt):
    perm = mx.random.permutation(X_tr.shape[0])
    tot = 0.0
    for b in range(STEPS_PER_EPOCH):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = loss_and_grad(model, X_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    return tot / STEPS_PER_EPOCH


def enc_snapshot():
    return [mx.array(v) for _, v in tree_flatten(model.encoder.parameters())]


def enc_drift(snap):
    now = [v for _, v in tree_flatten(model.encoder.parameters())]
    return math.sqrt(sum(mx.sum((a - b) ** 2).item() for a, b in zip(now, snap)))


# ---- stage 1: rolling (encoder frozen on purpose) ----
model.encoder.freeze()
opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
snap = enc_snapshot()
for ep in range(1, 21):
    tl = run_epoch(opt)
    vl, acc, wrong = evaluate()
    if ep % 4 == 0 or ep == 1:
        log.info("stage=rolling ep=%02d train_xent=%.4f val_xent=%.4f acc=%.1f%% faults=%d",
                 ep, tl, vl, acc, wrong)
log.info("audit rolling: encoder drift %.3e (frozen) trainable=%d",
         enc_drift(snap), sum(v.size for _, v in tree_flatten(model.trainable_parameters())))

# ---- stage 2: fulling (all unfrozen, lr from exactly 0) ----
model.unfreeze()
WARM, TOTAL = 3 * STEPS_PER_EPOCH, 40 * STEPS_PER_EPOCH
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.03, WARM), optim.cosine_decay(0.03, TOTAL - WARM, 1e-4)], [WARM])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
snap = enc_snapshot()
best, best_ep, best_params, patience = float("inf"), 0, None, 6
for ep in range(1, 41):
    lr0 = opt.learning_rate.item() if ep > 1 else 0.0
    tl = run_epoch(opt)
    vl, acc, wrong = evaluate()
    flag = ""
    if vl < best - 1e-4:
        best, best_ep = vl, ep
        best_params = tree_map(lambda v: mx.array(v), model.parameters())
        flag = " *"
    log.info("stage=fulling ep=%02d lr_in=%.4f train_xent=%.4f val_xent=%.4f acc=%.1f%% faults=%d%s",
             ep, lr0, tl, vl, acc, wrong, flag)
    if ep - best_ep >= patience:
        log.info("early stop at ep=%02d (best ep=%02d val_xent=%.4f)", ep, best_ep, best)
        break
log.info("audit fulling: encoder drift %.3f (unfrozen)", enc_drift(snap))
model.update(best_params)
mx.eval(model.parameters())
vl, acc, wrong = evaluate()
log.info("restored ep=%02d: val_xent=%.4f acc=%.1f%% faults=%d (majority %.1f%%)",
         best_ep, vl, acc, wrong, majority)
