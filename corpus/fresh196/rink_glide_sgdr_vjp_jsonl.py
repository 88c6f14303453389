"""Ice-rink resurfacer log: predict skate glide friction (mu x 1000) 20 minutes
after a resurfacer pass from the pass settings. Warm-restart cosine schedule,
a hand-written VJP for the robust loss, gradients averaged over the (possibly
single-process) distributed group."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

group = mx.distributed.init()
rank, world = group.rank(), group.size()

rng = np.random.default_rng(11 + rank)
N_TRAIN, N_VAL = 6000, 1500


def make(n):
    water_c = rng.uniform(45, 70, n)          # flood water temperature (C)
    litres = rng.uniform(300, 800, n)         # water laid per pass
    slab_c = rng.uniform(-9, -3, n)           # brine slab temperature (C)
    air_c = rng.uniform(4, 18, n)             # arena air temperature (C)
    rh = rng.uniform(25, 80, n)               # relative humidity (%)
    skaters = rng.poisson(35, n).astype(float)  # skaters on since the pass
    mu = (6.0 + 0.9 * (slab_c + 6) + 0.004 * (litres - 550)
          + 1.6 * np.tanh((air_c - 10) / 4) * (rh / 50)
          - 0.03 * (water_c - 57) + 0.05 * np.sqrt(skaters) * (slab_c > -5)
          + 0.35 * np.sin(litres / 90.0))
    mu = mu + rng.standard_t(4, n) * 0.25     # heavy-tailed rink-side measurement noise
    X = np.stack([water_c, litres, slab_c, air_c, rh, skaters], 1)
    return X.astype(np.float32), mu.astype(np.float32)


Xtr, ytr = make(N_TRAIN)
Xva, yva = make(N_VAL)
mean, std = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mean) / std, (Xva - mean) / std
y_mean = float(ytr.mean())
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


@mx.custom_function
def soft_abs(r):
    return mx.sqrt(r * r + 0.01)


@soft_abs.vjp
def soft_abs_vjp(primals, cotangent, output):
    r = primals  # single-input custom function: primals is the array itself
    return cotangent * r / output


class GlideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + y_mean


model = GlideNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return soft_abs(m(x) - y).mean()


# audit: hand VJP vs autodiff of the same expression on one batch
def plain_loss(m, x, y):
    r = m(x) - y
    return mx.sqrt(r * r + 0.01).mean()


g_custom = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])[1]
g_plain = nn.value_and_grad(model, plain_loss)(model, Xtr[:256], ytr[:256])[1]
from mlx.utils import tree_flatten
diff = max(mx.abs(a - b).max().item() for (_, a), (_, b) in zip(tree_flatten(g_custom), tree_flatten(g_plain)))
gnorm = math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(g_custom)))
print(json.dumps({"audit": "vjp_vs_autodiff", "max_abs_diff": float(f"{diff:.3e}"), "grad_norm": round(gnorm, 4),
                  "world": world}))

opt = optim.Adamax(learning_rate=0.0)
value_grad = nn.value_and_grad(model, loss_fn)

LR_MAX, LR_MIN = 4e-3, 0.0
cycles = [3, 6, 12]     # epochs per warm-restart cycle (doubling)
BATCH = 128
steps_per_epoch = N_TRAIN // BATCH
baseline_mae = mx.abs(yva - y_mean).mean().item()

t0 = time.time()
global_step = 0
for c, ep_len in enumerate(cycles):
    total = ep_len * steps_per_epoch
    it = 0
    for ep in range(ep_len):
        perm = mx.array(np.random.default_rng(1000 * c + ep).permutation(N_TRAIN))
        run = 0.0
        for b in range(steps_per_epoch):
            # cosine warm restart: lr jumps back to LR_MAX at every new cycle,
            # and starts each cycle's last step at exactly LR_MIN = 0
            frac = it / max(total - 1, 1)
            lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * frac))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = value_grad(model, Xtr[idx], ytr[idx])
            grads = nn.utils.tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            it += 1
            global_step += 1
        pred = model(Xva)
        mae = mx.abs(pred - yva).mean().item()
        rmse = mx.sqrt(((pred - yva) ** 2).mean()).item()
        print(json.dumps({"cycle": c + 1, "epoch_in_cycle": ep + 1, "step": global_step,
                          "lr_end": float(f"{lr:.2e}"), "train_softabs": round(run / steps_per_epoch, 4),
                          "val_mae_mu1000": round(mae, 4), "val_rmse": round(rmse, 4),
                          "mean_predictor_mae": round(baseline_mae, 4)}))

print(json.dumps({"done": True, "steps": global_step, "seconds": round(time.time() - t0, 1)}))
