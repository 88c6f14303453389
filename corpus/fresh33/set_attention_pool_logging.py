# Permutation-invariant set regression: predict the spread (max - min) of a variable-size set of
# noisy readings with a set encoder + attention pooling (one learned seed query, PMA-style).
import logging
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s.%(msecs)03d %(levelname)-7s [setpool] %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("setpool")
rng = np.random.default_rng(5)
NMAX, D = 20, 32


def make_sets(n):
    sizes = rng.integers(4, NMAX + 1, size=n)
    vals = rng.uniform(-2, 2, size=(n, NMAX))
    mask = (np.arange(NMAX)[None, :] < sizes[:, None])
    target = np.where(mask, vals, -np.inf).max(1) - np.where(mask, vals, np.inf).min(1)
    noisy = vals + rng.normal(0, 0.05, size=vals.shape)
    feats = np.stack([noisy, noisy ** 2], axis=-1) * mask[..., None]
    return (mx.array(feats.astype(np.float32)), mx.array(mask),
            mx.array(target.astype(np.float32)))


class SetPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(2, D), nn.GELU(), nn.Linear(D, D))
        self.seed = mx.random.normal((1, 1, D)) * 0.1
        self.attn = nn.MultiHeadAttention(D, num_heads=4)
        self.dec = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, 1))

    def __call__(self, x, mask):
        h = self.enc(x)
        q = mx.broadcast_to(self.seed, (x.shape[0], 1, D))
        bias = mx.where(mask, 0.0, -1e9)[:, None, None, :]
        pooled = self.attn(q, h, h, mask=bias)[:, 0, :]
        return self.dec(pooled)[:, 0]


def loss_fn(model, x, m, y):
    return nn.losses.huber_loss(model(x, m), y, delta=0.5, reduction="mean")


model = SetPool()
mx.eval(model.parameters())
xtr, mtr, ytr = make_sets(4000)
xva, mva, yva = make_sets(800)
sched = optim.cosine_decay(3e-3, 1500, 1e-4)
opt = optim.Adam(learning_rate=sched)
lg = nn.value_and_grad(model, loss_fn)

_, g0 = lg(model, xtr[:128], mtr[:128], ytr[:128])
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
log.info("gradient check: %d leaves, all-zero leaves=%s", len(flat), dead or "none")
log.info("baseline: predict the train-mean spread -> val MAE %.4f",
         float(mx.abs(yva - ytr.mean()).mean()))
t0 = time.time()
for step in range(1, 1501):
    idx = mx.array(rng.integers(0, xtr.shape[0], size=64))
    loss, g = lg(model, xtr[idx], mtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 150 == 0:
        pred = model(xva, mva)
        mae = float(mx.abs(pred - yva).mean())
        log.info("step %4d  batch_huber %.5f  val_MAE %.4f  lr %.2e  (%.1fs)",
                 step, loss.item(), mae, float(opt.learning_rate), time.time() - t0)
    if step % 50 == 0:
        log.debug("step %d loss %.5f", step, loss.item())  # suppressed at INFO level
log.warning("finished: val MAE cannot go much below the ~0.05 level set by the 0.05 reading noise on the extremes")
