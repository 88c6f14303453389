"""Bindery lab: peel strength (N/cm) of PVA spine joints in case-bound books.

Seven workshop readings plus the paper stock of the text block go into a small
network. Optimizer setup follows the usual recipe for this kind of model:
  * AdamW with betas (0.9, 0.95), eps 1e-7, weight decay 0.1 on the Linear
    weight matrices only
  * plain Adam (no decay) on biases, LayerNorm scales and the stock embedding
  * global gradient-norm clip at 0.25 before both optimizers see the grads
  * learning rate warms up linearly from exactly 0, then cosine to 0
Every report is written as a GNU recutils record (Key: value lines, blank line
between records).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 279
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

N_TRAIN, N_VAL = 6000, 1500
N_STOCK = 7
NOISE_SD = 0.30  # N/cm, measurement scatter of the peel tester


def make_books(n):
    glue_g = rng.uniform(8, 30, n)          # PVA laid down, g/m^2
    open_s = rng.uniform(5, 90, n)          # open time before nipping, s
    nip_kpa = rng.uniform(50, 400, n)       # nipping pressure
    room_c = rng.uniform(15, 30, n)
    rh = rng.uniform(30, 75, n)             # relative humidity %
    grain_ok = rng.integers(0, 2, n)        # grain parallel to spine
    cure_h = rng.uniform(2, 72, n)
    stock = rng.integers(0, N_STOCK, n)
    porosity = np.array([0.2, 0.5, 0.8, 0.35, 0.65, 0.1, 0.9])[stock]
    wet = glue_g * (1 - 0.006 * open_s) * (1 + 0.4 * porosity)
    strength = (
        1.6 * np.tanh(wet / 12.0)
        + 0.9 * np.log1p(nip_kpa / 100.0)
        - 0.03 * np.abs(room_c - 22.0) ** 1.3
        - 0.012 * np.maximum(rh - 55.0, 0) ** 1.2
        + 0.45 * grain_ok
        + 0.5 * (1 - np.exp(-cure_h / 18.0))
        + 0.3 * np.sin(3.0 * porosity)
    )
    y = strength + NOISE_SD * rng.standard_normal(n)
    x = np.stack([glue_g, open_s, nip_kpa, room_c, rh, grain_ok, cure_h], 1)
    return x.astype(np.float32), stock.astype(np.int32), y.astype(np.float32)


xtr, str_, ytr = make_books(N_TRAIN)
xva, sva, yva = make_books(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ymu, ysd = ytr.mean(), ytr.std()

# reference points printed beside the model
mean_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
A = np.c_[xtr, np.eye(N_STOCK)[str_]]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
lin_rmse = float(np.sqrt(np.mean((np.c_[xva, np.eye(N_STOCK)[sva]] @ coef - yva) ** 2)))


class PeelNet(nn.Module):
    def __init__(self, d_in=7, n_stock=N_STOCK, d_emb=4, width=96):
        super().__init__()
        self.stock = nn.Embedding(n_stock, d_emb)
        self.inp = nn.Linear(d_in + d_emb, width)
        self.norm1 = nn.LayerNorm(width)
        self.mid = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x, s):
        h = mx.concatenate([x, self.stock(s)], axis=-1)
        h = nn.gelu(self.norm1(self.inp(h)))
        h = h + nn.gelu(self.norm2(self.mid(h)))
        return self.out(h).squeeze(-1)


model = PeelNet()
mx.eval(model.parameters())

BATCH = 64
EPOCHS = 14
steps_per_epoch = N_TRAIN // BATCH
TOTAL = EPOCHS * steps_per_epoch
WARM = 150
PEAK = 2e-3
CLIP = 0.25

sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 0.0)],
    [WARM],
)


def decays(path, leaf):
    # matrices of the Linear layers only; the embedding table is left alone
    return leaf.ndim == 2 and not path.startswith("stock")


opt = optim.MultiOptimizer(
    [optim.AdamW(learning_rate=sched, betas=[0.9, 0.95], eps=1e-7, weight_decay=0.1),
     optim.Adam(learning_rate=sched, betas=[0.9, 0.95], eps=1e-7)],
    [decays],
)

flat = tree_flatten(model.parameters())
n_dec = sum(1 for k, v in flat if decays(k, v))
n_plain = len(flat) - n_dec


def group_rms(params):
    dec, plain = [], []
    for k, v in tree_flatten(params):
        (dec if decays(k, v) else plain).append(v.reshape(-1))
    d = mx.concatenate(dec)
    p = mx.concatenate(plain)
    return float(mx.sqrt(mx.mean(d * d))), float(mx.sqrt(mx.mean(p * p)))


def loss_fn(m, x, s, y):
    return nn.losses.mse_loss(m(x, s), (y - ymu) / ysd)


loss_and_grad = nn.value_and_grad(model, loss_fn)

Xtr, Str, Ytr = mx.array(xtr), mx.array(str_), mx.array(ytr)
Xva, Sva, Yva = mx.array(xva), mx.array(sva), mx.array(yva)


def val_metrics():
    pred = model(Xva, Sva) * ysd + ymu
    err = pred - Yva
    rmse = float(mx.sqrt(mx.mean(err * err)))
    within = float(mx.mean((mx.abs(err) <= 0.5).astype(mx.float32))) * 100
    return rmse, within


def record(**kv):
    width = max(len(k) for k in kv)
    for k, v in kv.items():
        print(f"{k}:{' ' * (width - len(k) + 1)}{v}")
    print()


record(Kind="run", Task="bindery PVA spine peel strength", Unit="N/cm",
       Train=N_TRAIN, Val=N_VAL, Steps=TOTAL, Warmup=WARM, Peak_lr=PEAK, Clip=CLIP,
       Decayed_leaves=n_dec, Plain_leaves=n_plain,
       Noise_floor_rmse=f"{NOISE_SD:.3f}", Mean_guess_rmse=f"{mean_rmse:.3f}",
       Least_squares_rmse=f"{lin_rmse:.3f}")

# first step: lr is exactly 0, so nothing may move; also every leaf must get a gradient
x0, s0, y0 = Xtr[:BATCH], Str[:BATCH], Ytr[:BATCH]
before = tree_map(lambda a: mx.array(a), model.parameters())
_, g0 = loss_and_grad(model, x0, s0, y0)
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
g0c, n0 = optim.clip_grad_norm(g0, CLIP)
opt.update(model, g0c)
mx.eval(model.parameters(), opt.state)
moved = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
            zip(tree_flatten(model.parameters()), tree_flatten(before)))
record(Kind="grad_check", Leaves=len(flat), Zero_grad_leaves=",".join(zero_leaves) or "none",
       First_step_lr=f"{float(sched(mx.array(0))):.1e}", Max_param_change_step1=f"{moved:.1e}")
if zero_leaves:
    raise SystemExit("leaf without gradient")

rmse0, within0 = val_metrics()
dec0, plain0 = group_rms(model.parameters())
record(Kind="epoch", Epoch=0, Step=1, Lr="0.0e+00", Train_mse_z="-", Grad_norm_median=f"{float(n0):.3f}",
       Clipped_pct="-", Val_rmse=f"{rmse0:.3f}", Val_within_0p5_pct=f"{within0:.1f}",
       Rms_decayed=f"{dec0:.4f}", Rms_plain=f"{plain0:.4f}", Secs="0.0")

step = 1
t0 = time.perf_counter()
report_at = {1, 2, 3, 4, 6, 8, 10, 12, 14}
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN)[: steps_per_epoch * BATCH].astype(np.int32))
    losses, norms, clipped = [], [], 0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, g = loss_and_grad(model, Xtr[idx], Str[idx], Ytr[idx])
        g, gn = optim.clip_grad_norm(g, CLIP)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, gn)
        step += 1
        losses.append(float(loss))
        gnf = float(gn)
        norms.append(gnf)
        clipped += gnf > CLIP
    if epoch in report_at:
        rmse, within = val_metrics()
        dec, plain = group_rms(model.parameters())
        record(Kind="epoch", Epoch=epoch, Step=step,
               Lr=f"{float(sched(mx.array(step - 1))):.2e}",
               Train_mse_z=f"{np.mean(losses):.4f}",
               Grad_norm_median=f"{np.median(norms):.3f}",
               Clipped_pct=f"{100.0 * clipped / steps_per_epoch:.1f}",
               Val_rmse=f"{rmse:.3f}", Val_within_0p5_pct=f"{within:.1f}",
               Rms_decayed=f"{dec:.4f}", Rms_plain=f"{plain:.4f}",
               Secs=f"{time.perf_counter() - t0:.1f}")

rmse, within = val_metrics()
record(Kind="done", Steps=step, Final_val_rmse=f"{rmse:.3f}", Noise_floor_rmse=f"{NOISE_SD:.3f}",
       Least_squares_rmse=f"{lin_rmse:.3f}", Gap_to_floor=f"{rmse - NOISE_SD:+.3f}")
