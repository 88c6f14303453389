"""Canal lock: minutes to fill a chamber, regressed from lock-keeper log readings.

The network is grown in depth between stages: a new residual block is appended
whose output projection starts at exactly zero, so the function is unchanged
at the moment of growth.  Each stage gets a fresh AdamW whose learning rate
warms up linearly from 0.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)

N_TRAIN, N_VAL = 8000, 2000
WIDTH = 64
BATCH = 96
EPOCHS_PER_STAGE = 4
STAGES = 3
PEAK_LR = 2e-3
WARM = 60


def lock_logs(n):
    area = rng.uniform(150.0, 900.0, n)        # chamber plan area m2
    lift = rng.uniform(1.0, 9.0, n)            # head difference m
    sluice = rng.uniform(0.6, 4.0, n)          # culvert/sluice open area m2
    open_s = rng.uniform(20.0, 240.0, n)       # paddle opening time s
    leak = rng.uniform(0.0, 0.08, n)           # gate leakage m3/s per m2
    silt = rng.uniform(0.0, 0.35, n)           # silted share of culvert
    x = np.stack([area, lift, sluice, open_s, leak, silt], 1)
    eff = sluice * (1.0 - silt) ** 1.5
    t = (2.0 * area * np.sqrt(lift) / (0.62 * eff * np.sqrt(2 * 9.81))) / 60.0
    t = t + open_s / 120.0 - 4.0 * leak * area / 100.0
    y = t * np.exp(rng.normal(0.0, 0.03, n))
    return x, y


Xtr_np, ytr_np = lock_logs(N_TRAIN)
Xva_np, yva_np = lock_logs(N_VAL)
mu, sd = Xtr_np.mean(0), Xtr_np.std(0)
ly = np.log(ytr_np)
ym, ys = ly.mean(), ly.std()
Xtr = mx.array(((Xtr_np - mu) / sd).astype(np.float32))
Xva = mx.array(((Xva_np - mu) / sd).astype(np.float32))
ytr = mx.array(((ly - ym) / ys).astype(np.float32))
yva_min = mx.array(yva_np.astype(np.float32))


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 2 * width)
        self.down = nn.Linear(2 * width, width)
        self.down.weight = mx.zeros_like(self.down.weight)
        self.down.bias = mx.zeros_like(self.down.bias)

    def __call__(self, h):
        return h + self.down(nn.gelu(self.up(self.norm(h))))


class FillTimeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(6, WIDTH)
        self.blocks = [Block(WIDTH)]
        self.head = nn.Linear(WIDTH, 1)

    def grow(self):
        self.blocks = self.blocks + [Block(WIDTH)]

    def __call__(self, x):
        h = nn.gelu(self.stem(x))
        for b in self.blocks:
            h = b(h)
        return self.head(h).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def val_metrics(m):
    pred_min = mx.exp(m(Xva) * ys + ym)
    rmse = mx.sqrt(mx.mean((pred_min - yva_min) ** 2)).item()
    within = mx.mean((mx.abs(pred_min - yva_min) <= 0.5).astype(mx.float32)).item() * 100
    return rmse, within


def n_params(m):
    return sum(v.size for _, v in tree_flatten(m.trainable_parameters()))


model = FillTimeNet()
mx.eval(model.parameters())
steps_per_epoch = N_TRAIN // BATCH
mean_guess = float(np.sqrt(np.mean((np.exp(ym) - yva_np) ** 2)))
print(f"lock logs | train {N_TRAIN} | val {N_VAL} | mean-guess val rmse {mean_guess:.2f} min "
      f"| log-noise 3%")
t0 = time.perf_counter()
for stage in range(1, STAGES + 1):
    if stage > 1:
        before = model(Xva[:256])
        model.grow()
        mx.eval(model.parameters())
        after = model(Xva[:256])
        shift = mx.max(mx.abs(after - before)).item()
        print(f"grow | stage {stage} | blocks {len(model.blocks)} | params {n_params(model):,} "
              f"| output shift at growth {shift:.1e}")
    total = EPOCHS_PER_STAGE * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM),
         optim.cosine_decay(PEAK_LR, total - WARM, 1e-5)], [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for epoch in range(1, EPOCHS_PER_STAGE + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            lr_now = opt.learning_rate.item()
            loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
            if epoch == 1 and i == 0:
                flat = tree_flatten(grads)
                still = [k for k, g in flat if mx.all(g == 0).item()]
                print(f"grad | stage {stage} | first step lr {lr_now:.1e} | leaves {len(flat)} "
                      f"| all-zero leaves {len(still)}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        rmse, within = val_metrics(model)
        print(f"stage {stage} | epoch {epoch} | blocks {len(model.blocks)} | lr {lr_now:.2e} "
              f"| train mse(z) {tot / steps_per_epoch:.4f} | val rmse {rmse:.3f} min "
              f"| within 30 s {within:.1f}% | {time.perf_counter() - t0:.1f}s")
print(f"done | blocks {len(model.blocks)} | params {n_params(model):,} "
      f"| {time.perf_counter() - t0:.1f}s")
