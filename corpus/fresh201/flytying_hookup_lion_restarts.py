# Fly-tying bench notebook: how often does a dressed fly get a hook-up?
# Synthetic river log: 7 dressing features -> hook-up rate (%) per 100 casts.
# Small MLP, Lion optimizer, warm-restart cosine schedule that starts from lr = 0.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N_TRAIN, N_VALID = 5000, 1000


def make_flies(n):
    hook_size = rng.integers(10, 20, size=n).astype(np.float32)       # #10..#18
    hackle_turns = rng.uniform(1, 6, size=n).astype(np.float32)
    tail_len = rng.uniform(0.5, 1.5, size=n).astype(np.float32)       # x shank
    flash = rng.integers(0, 2, size=n).astype(np.float32)
    bead_mg = rng.uniform(0, 60, size=n).astype(np.float32)
    water_temp = rng.uniform(4, 20, size=n).astype(np.float32)        # deg C
    turbidity = rng.uniform(0, 1, size=n).astype(np.float32)
    rate = (
        18
        + 9 * np.sin((hook_size - 10) / 3.0)
        + 4 * np.log1p(hackle_turns)
        - 6 * (tail_len - 1.0) ** 2
        + 5 * flash * turbidity
        + 0.08 * bead_mg * (water_temp < 9)
        + 0.6 * (water_temp - 4) - 0.03 * (water_temp - 4) ** 2
        + rng.normal(0, 1.2, size=n)
    )
    X = np.stack([hook_size, hackle_turns, tail_len, flash, bead_mg, water_temp, turbidity], 1)
    return X, rate.astype(np.float32)


Xtr, ytr = make_flies(N_TRAIN)
Xva, yva = make_flies(N_VALID)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
baseline_mse = float(mx.mean((yva - mx.mean(ytr)) ** 2))


class HookupNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1) + 20.0


mx.random.seed(3)
model = HookupNet()
PEAK, CYCLES, EPOCHS_PER_CYCLE, BATCH = 2e-3, 3, 8, 100
steps_per_epoch = N_TRAIN // BATCH
cycle_steps = EPOCHS_PER_CYCLE * steps_per_epoch
warm = steps_per_epoch  # first epoch of the first cycle ramps up from exactly 0


def schedule(step):
    # step is an mx.array; build lr with mx ops so Lion can keep it in its state
    step = step.astype(mx.float32)
    pos = step % cycle_steps
    cos = 0.5 * PEAK * (1 + mx.cos(math.pi * pos / cycle_steps))
    ramp = PEAK * step / warm
    return mx.where(step < warm, ramp, cos)


opt = optim.Lion(learning_rate=schedule, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)

# sanity check: every parameter gets a gradient
_, g0 = grad_fn(model, Xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "n_params": len(tree_flatten(g0)), "zero_grad": zero}))

t0 = time.time()
for cyc in range(CYCLES):
    for ep in range(EPOCHS_PER_CYCLE):
        perm = mx.array(rng.permutation(N_TRAIN))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        va = mx.mean((model(Xva) - yva) ** 2).item()
        r2 = 1.0 - va / baseline_mse
        print(json.dumps({
            "cycle": cyc, "epoch": ep, "lr": round(opt.learning_rate.item(), 7),
            "train_mse": round(run / steps_per_epoch, 3), "valid_mse": round(va, 3),
            "mean_guess_mse": round(baseline_mse, 3), "r2": round(r2, 4),
            "rmse_pct_pts": round(math.sqrt(va), 3),
        }))
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1),
                  "final_valid_rmse": round(math.sqrt(va), 3), "noise_floor_rmse": 1.2}))
