"""Saffron crocus stigma grading (4 grades) from 12 drying-shed readings.

A grader fitted on last season's harvest is frozen; this season's harvest is
fitted with AdaLoRA-style adapters: each adapted Linear gets an SVD-shaped
update P @ diag(lam) @ Q with an orthogonality penalty on P and Q, and a
shrinking triplet budget (cubic schedule) that zeroes the least important
singular values by an EMA of |lam * dlam|. Log records are EDIFACT-style
segments, one per line.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEED = 5
FLIP = 0.10
mx.random.seed(SEED)
rng = np.random.default_rng(SEED)


def seg(tag, *parts):
    print(tag + "+" + "+".join(str(p) for p in parts) + "'", flush=True)


# ---------------------------------------------------------------- data
W_OLD = rng.normal(size=(12, 4)).astype(np.float32)
W_NEW = W_OLD + 0.9 * rng.normal(size=(12, 4)).astype(np.float32)


def harvest(n, w, shift):
    x = rng.normal(size=(n, 12)).astype(np.float32)
    z = x @ w + 0.7 * np.sin(x[:, :4] * shift) - 0.4 * (x[:, 4:8] ** 2)
    y = z.argmax(1)
    flip = rng.random(n) < FLIP
    y[flip] = rng.integers(0, 4, flip.sum())
    return mx.array(x), mx.array(y.astype(np.int32))


old_x, old_y = harvest(8000, W_OLD, 1.0)
tr_x, tr_y = harvest(1500, W_NEW, 2.0)
va_x, va_y = harvest(1500, W_NEW, 2.0)
majority = max(np.bincount(np.array(va_y), minlength=4)) / va_y.shape[0]
ceiling = 1 - FLIP * 3 / 4


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(12, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


class SVDAdapter(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, alpha=16.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.P = mx.random.normal((out_d, rank)) * 0.02
        self.lam = mx.zeros((rank,))
        self.Q = mx.random.normal((rank, in_d)) * 0.02

    def delta(self):
        return self.scale * (self.P * self.lam) @ self.Q

    def __call__(self, x):
        return self.base(x) + x @ self.delta().T

    def orth(self):
        r = self.lam.shape[0]
        eye = mx.eye(r)
        return ((self.P.T @ self.P - eye) ** 2).sum() + ((self.Q @ self.Q.T - eye) ** 2).sum()


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return (model(x).argmax(1) == y).mean().item()


# ---------------------------------------------------------------- last season, quiet
base = Grader()
o0 = optim.Adam(learning_rate=2e-3)
vg0 = nn.value_and_grad(base, ce)
t0 = time.time()
for step in range(700):
    idx = mx.array(rng.integers(0, old_x.shape[0], 128))
    l, g = vg0(base, old_x[idx], old_y[idx])
    o0.update(base, g)
    mx.eval(base.parameters(), o0.state, l)
seg("BGM", "LASTSEASON", f"CE:{ce(base, old_x, old_y).item():.3f}", f"ACC:{acc(base, old_x, old_y):.3f}",
    f"T:{time.time() - t0:.1f}")
base_acc = acc(base, va_x, va_y)
base_ce = ce(base, va_x, va_y).item()
seg("RFF", f"BASE_ACC:{base_acc:.3f}", f"BASE_CE:{base_ce:.3f}", f"MAJORITY:{majority:.3f}",
    f"CEILING:{ceiling:.3f}", f"CHANCE_CE:{np.log(4):.3f}")

# ---------------------------------------------------------------- this season
frozen_copy = {n: mx.array(getattr(base, n).weight) for n in ("l1", "l2")}
base.freeze()
base.l1 = SVDAdapter(base.l1)
base.l2 = SVDAdapter(base.l2)
model = base
names = ("l1", "l2")
R = 8
B0, BT = 2 * R, 6  # triplet budget: all 16 at first, 6 at the end
TOTAL, TI, TF = 700, 100, 450
ORTH = 0.1
masks = {n: mx.ones((R,)) for n in names}
ema = {n: mx.zeros((R,)) for n in names}


def budget(t):
    if t < TI:
        return B0
    if t >= TF:
        return BT
    frac = 1 - (t - TI) / (TF - TI)
    return int(BT + (B0 - BT) * frac ** 3)


def loss_fn(m, x, y):
    c = ce(m, x, y)
    reg = sum(getattr(m, n).orth() for n in names)
    return c + ORTH * reg, (c, reg)


n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
seg("CFG", "SVD", f"RANK:{R}", f"TRAINABLE:{n_tr}", f"BUDGET:{B0}>{BT}", f"PRUNE:{TI}-{TF}")
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, TOTAL - 40, 1e-4)], [40])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
vg = nn.value_and_grad(model, loss_fn)
for t in range(TOTAL):
    idx = mx.array(rng.integers(0, tr_x.shape[0], 64))
    (tot, (c, reg)), g = vg(model, tr_x[idx], tr_y[idx])
    lr = opt.learning_rate.item()
    opt.update(model, g)
    # importance of each triplet, smoothed
    for n in names:
        ema[n] = 0.85 * ema[n] + 0.15 * mx.abs(getattr(model, n).lam * g[n]["lam"])
    b = budget(t)
    if b < B0:
        allscore = mx.concatenate([ema[n] * masks[n] + (masks[n] - 1) * 1e9 for n in names])
        keep_thr = mx.sort(allscore)[-b]
        for n in names:
            masks[n] = masks[n] * (ema[n] >= keep_thr).astype(mx.float32)
    for n in names:
        layer = getattr(model, n)
        layer.lam = layer.lam * masks[n]
    mx.eval(model.parameters(), opt.state, tot, c, reg, ema, masks)
    if t == 0 or (t + 1) % 50 == 0:
        live = int(sum(masks[n].sum().item() for n in names))
        seg("MEA", f"STEP:{t + 1}", f"LR:{lr:.2e}", f"CE:{c.item():.3f}", f"ORTH:{reg.item():.3f}",
            f"LIVE:{live}", f"VCE:{ce(model, va_x, va_y).item():.3f}", f"VACC:{acc(model, va_x, va_y):.3f}")

ranks = {n: int(masks[n].sum().item()) for n in names}
zeroed = sum(int((getattr(model, n).lam == 0).sum().item()) for n in names)
drift = max(mx.abs(getattr(model, n).base.weight - frozen_copy[n]).max().item() for n in names)
seg("UNS", f"RANK_L1:{ranks['l1']}", f"RANK_L2:{ranks['l2']}", f"LAM_ZERO:{zeroed}",
    f"VACC:{acc(model, va_x, va_y):.3f}", f"BASE_ACC:{base_acc:.3f}", f"MAJORITY:{majority:.3f}",
    f"CEILING:{ceiling:.3f}", f"BASE_DRIFT:{drift:.1e}")
