"""Locksport bench: how long (seconds) a picker needs to open a pin-tumbler lock.

Curriculum in three stages: 3-pin practice locks, then 5-pin locks,
then 6-pin locks with spool/serrated security pins (the hard stage; the
error goes UP when it starts). Each stage trains with early stopping on
a validation split and restores the best weights before moving on.
The train step is compiled with the model and optimizer state captured.
"""
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s lockbench | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("lockbench")

rng = np.random.default_rng(11)
mx.random.seed(11)
MAX_PINS = 6


def make_locks(n, n_pins, security_share):
    """Per pin: cut depth (0-1), binding tolerance (0-1), security flag. Padded to 6 pins."""
    depth = np.zeros((n, MAX_PINS), np.float32)
    tol = np.zeros((n, MAX_PINS), np.float32)
    sec = np.zeros((n, MAX_PINS), np.float32)
    depth[:, :n_pins] = rng.uniform(0.1, 1.0, (n, n_pins))
    tol[:, :n_pins] = rng.uniform(0.0, 1.0, (n, n_pins))
    sec[:, :n_pins] = rng.uniform(size=(n, n_pins)) < security_share
    present = np.zeros((n, MAX_PINS), np.float32)
    present[:, :n_pins] = 1.0
    # seconds: each pin costs time, tight tolerance, deep cuts after shallow ones and
    # security pins (false sets) cost much more
    jumps = np.abs(np.diff(depth, axis=1, prepend=0.0)) * present
    per_pin = present * (2.0 + 6.0 * (1 - tol) ** 2 + 3.0 * jumps) + sec * (8.0 + 10.0 * (1 - tol))
    secs = per_pin.sum(1) * rng.lognormal(0, 0.08, n)
    x = np.concatenate([depth, tol, sec, present], 1)
    return x.astype(np.float32), np.log(secs).astype(np.float32)[:, None]


class PickTimer(nn.Module):
    def __init__(self):
        super().__init__()
        self.pin_embed = nn.Linear(4, 24)      # shared per-pin encoder
        self.mix = nn.Linear(MAX_PINS * 24, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        b = x.shape[0]
        pins = x.reshape(b, 4, MAX_PINS).transpose(0, 2, 1)   # (b, pin, feat)
        h = nn.gelu(self.pin_embed(pins)).reshape(b, -1)
        return self.head(nn.gelu(self.mix(h))) + 3.0


model = PickTimer()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def seconds_mae(x, y):
    pred = model(mx.array(x))
    return float(mx.abs(mx.exp(pred) - mx.exp(mx.array(y))).mean())


# gradient audit on an all-stage batch before training
xa, ya = make_locks(64, 6, 0.3)
_, g0 = grad_fn(model, mx.array(xa), mx.array(ya))
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
log.info("grad audit: %d tensors, dead=%s, total_norm=%.4f", len(tree_flatten(g0)), dead or "none",
         float(mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(g0)))))

STAGES = [("practice-3pin", 3, 0.0), ("standard-5pin", 5, 0.0), ("security-6pin", 6, 0.45)]
BATCH, MAX_EP, PATIENCE = 64, 60, 6
for stage_no, (name, n_pins, sec_share) in enumerate(STAGES, 1):
    xtr, ytr = make_locks(2400, n_pins, sec_share)
    xva, yva = make_locks(600, n_pins, sec_share)
    naive = float(np.abs(np.exp(yva) - np.exp(ytr).mean()).mean())
    best, best_ep, wait, best_w = float("inf"), 0, 0, None
    log.info("stage %d/%d %s: %d train / %d val locks, mean time %.1f s, predict-the-mean MAE %.2f s",
             stage_no, len(STAGES), name, len(xtr), len(xva), float(np.exp(ytr).mean()), naive)
    for ep in range(1, MAX_EP + 1):
        perm = rng.permutation(len(xtr))
        tot = 0.0
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            loss = train_step(mx.array(xtr[idx]), mx.array(ytr[idx]))
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss) * len(idx)
        tr_huber = tot / len(xtr)
        va_huber = float(loss_fn(model, mx.array(xva), mx.array(yva)))
        va_mae = seconds_mae(xva, yva)
        flag = ""
        if va_huber < best - 1e-5:
            best, best_ep, wait = va_huber, ep, 0
            best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
            flag = " *"
        else:
            wait += 1
        if ep <= 3 or ep % 5 == 0 or flag == "" and wait == PATIENCE:
            log.info("stage=%d ep=%02d train_huber=%.4f val_huber=%.4f val_mae=%.2fs naive=%.2fs%s",
                     stage_no, ep, tr_huber, va_huber, va_mae, naive, flag)
        if wait >= PATIENCE:
            log.info("stage=%d early stop at ep %d (no gain for %d epochs)", stage_no, ep, PATIENCE)
            break
    model.load_weights(best_w)
    mx.eval(model.parameters())
    log.info("stage=%d restored ep %d weights: val_huber=%.4f val_mae=%.2fs (naive %.2fs, %.0f%% better)",
             stage_no, best_ep, float(loss_fn(model, mx.array(xva), mx.array(yva))), seconds_mae(xva, yva),
             naive, 100 * (1 - seconds_mae(xva, yva) / naive))

# re-check the earlier stages after the full curriculum
for stage_no, (name, n_pins, sec_share) in enumerate(STAGES, 1):
    xt, yt = make_locks(800, n_pins, sec_share)
    log.info("final check %-14s MAE %.2f s over mean %.1f s", name, seconds_mae(xt, yt), float(np.exp(yt).mean()))
