"""Reed-organ (harmonium) reed voicing: predict the pitch error of a freshly
filed reed in cents from bench measurements.

Stage 1 trains a small MLP on the brass-reed workshop log.
Stage 2 keeps that net frozen and fits low-rank adapters on a much smaller
steel-reed log (stiffer metal, different curvature response).  The adapter
learning rate warms up from exactly 0.  At the end the adapters are folded
into the dense weights and the fold is audited.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

FEATS = ["tongue_mm", "thick_mm", "width_mm", "curve_deg", "slot_gap_um", "temp_c"]


def make_reeds(n, steel, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, len(FEATS)), key=k1)
    length, thick, width, curve, gap, temp = [x[:, i] for i in range(6)]
    cents = (
        9.0 * thick - 6.0 * length + 3.0 * mx.tanh(2.0 * curve)
        + 2.0 * width * thick - 1.5 * gap + 0.8 * temp
    )
    if steel:
        # steel: stiffer tongue, curvature bites harder, temperature drift flips
        cents = 1.3 * cents + 7.0 * mx.tanh(curve * thick) - 1.6 * temp + 4.0
    cents = cents + 0.6 * mx.random.normal((n,), key=k2)
    return x, cents[:, None]


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        bound = 1.0 / math.sqrt(in_d)
        self.lora_a = mx.random.uniform(-bound, bound, (in_d, rank))
        self.lora_b = mx.zeros((rank, out_d))
        self.scale = alpha / rank

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)

    def fused(self):
        lin = nn.Linear(self.base.weight.shape[1], self.base.weight.shape[0])
        delta = self.scale * (self.lora_a @ self.lora_b).T
        lin.weight = self.base.weight + delta
        lin.bias = self.base.bias
        return lin


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.l3(h)


def rmse(model, x, y):
    return mx.sqrt(mx.mean((model(x) - y) ** 2))


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


def batches(n, bs, key):
    perm = mx.random.permutation(n, key=key)
    for i in range(0, n - bs + 1, bs):
        yield perm[i : i + bs]


def emit(**rec):
    print(json.dumps(rec), flush=True)


t0 = time.time()
kb, ks, kbv, ksv = mx.random.split(mx.random.key(3), 4)
xb, yb = make_reeds(3000, False, kb)
xbv, ybv = make_reeds(500, False, kbv)
xs, ys = make_reeds(240, True, ks)
xsv, ysv = make_reeds(400, True, ksv)

model = ReedNet()
mx.eval(model.parameters())

# ---------------- stage 1: brass workshop, full network ----------------
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)
shuffle_key = mx.random.key(99)
for epoch in range(1, 31):
    shuffle_key, sub = mx.random.split(shuffle_key)
    run = 0.0
    nb = 0
    for idx in batches(xb.shape[0], 64, sub):
        loss, grads = step_fn(model, xb[idx], yb[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
    if epoch % 5 == 0 or epoch == 1:
        emit(stage="brass", epoch=epoch, huber=round(run / nb, 4),
             val_rmse_cents=round(rmse(model, xbv, ybv).item(), 3),
             steel_rmse_cents=round(rmse(model, xsv, ysv).item(), 3))

ref_steel = rmse(model, xsv, ysv).item()
ref_brass = rmse(model, xbv, ybv).item()
frozen_snapshot = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}

# ---------------- stage 2: steel reeds, adapters only ----------------
model.freeze()
model.l1 = LoRALinear(model.l1, rank=4, alpha=8.0)
model.l2 = LoRALinear(model.l2, rank=4, alpha=8.0)
model.l3 = LoRALinear(model.l3, rank=4, alpha=8.0)
trainable = dict(tree_flatten(model.trainable_parameters()))
n_train = sum(v.size for v in trainable.values())
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
emit(stage="adapt_setup", trainable=n_train, total=n_all,
     trainable_pct=round(100.0 * n_train / n_all, 2), keys=sorted(trainable))

epochs2 = 60
steps_per_epoch = xs.shape[0] // 16
total = epochs2 * steps_per_epoch
warm = 45
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 2e-4)],
    [warm],
)
opt2 = optim.AdamW(learning_rate=sched, weight_decay=0.0)
step_fn2 = nn.value_and_grad(model, loss_fn)
a0 = {k: mx.array(v) for k, v in trainable.items()}
gstep = 0
for epoch in range(1, epochs2 + 1):
    shuffle_key, sub = mx.random.split(shuffle_key)
    run = 0.0
    nb = 0
    for idx in batches(xs.shape[0], 16, sub):
        lr_now = opt2.learning_rate.item()
        loss, grads = step_fn2(model, xs[idx], ys[idx])
        opt2.update(model, grads)
        mx.eval(model.parameters(), opt2.state, loss)
        run += loss.item()
        nb += 1
        gstep += 1
        if gstep == 1:
            emit(stage="steel", step=gstep, lr=lr_now, huber=round(loss.item(), 4))
    if epoch % 6 == 0 or epoch == 1:
        emit(stage="steel", epoch=epoch, step=gstep, lr=round(opt2.learning_rate.item(), 6),
             huber=round(run / nb, 4),
             val_rmse_cents=round(rmse(model, xsv, ysv).item(), 3),
             ref_frozen_rmse_cents=round(ref_steel, 3))

# ---------------- audit: fold adapters, compare ----------------
moved = {k: round(mx.linalg.norm(v - a0[k]).item(), 4)
         for k, v in tree_flatten(model.trainable_parameters())}
base_drift = max(
    mx.max(mx.abs(getattr(model, n).base.weight - frozen_snapshot[n + ".weight"])).item()
    for n in ("l1", "l2", "l3")
)
adapted_pred = model(xsv)
for name in ("l1", "l2", "l3"):
    setattr(model, name, getattr(model, name).fused())
fused_pred = model(xsv)
emit(stage="audit", adapter_delta_norms=moved, frozen_base_max_drift=base_drift,
     fold_max_abs_diff_cents=float(mx.max(mx.abs(fused_pred - adapted_pred)).item()),
     steel_rmse_fused=round(rmse(model, xsv, ysv).item(), 3),
     steel_rmse_frozen_ref=round(ref_steel, 3),
     brass_rmse_ref=round(ref_brass, 3),
     wall_s=round(time.time() - t0, 2))
