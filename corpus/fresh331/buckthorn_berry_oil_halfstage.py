"""Sea-buckthorn orchard: predict berry oil content (%) at harvest from seven field readings.

Stage A trains a heteroscedastic MLP in float32.  Stage B keeps a float32
master copy of the weights but runs forward/backward in bfloat16 with a fresh
cosine schedule.  At the end the master copy is written as a float16
safetensors file, reloaded into a new model, and all three views are scored
against a predict-the-mean baseline and the noise floor of the simulator.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(331)
mx.random.seed(331)

FEATURES = ["shrub_m", "soil_n", "moisture", "days_veraison", "gdd", "rust", "row_gap"]


def simulate(n):
    shrub = rng.uniform(4.0, 7.5, n)
    soil_n = rng.gamma(4.0, 25.0, n)
    moisture = rng.uniform(0.12, 0.38, n)
    days = rng.uniform(15, 45, n)
    gdd = rng.normal(1450, 160, n)
    rust = rng.integers(0, 5, n).astype(np.float64)
    gap = rng.choice([2.1, 2.4, 2.7, 3.0], n)
    mean = (
        9.0
        + 0.55 * (shrub - 5.5)
        + 2.2 * np.tanh((soil_n - 100.0) / 60.0)
        - 18.0 * (moisture - 0.25) ** 2 * 10
        + 2.5 * np.sin(math.pi * (days - 15) / 40.0)
        + 0.004 * (gdd - 1450)
        - 0.45 * rust
        - 0.8 * (gap - 2.55) ** 2
    )
    sd = 0.25 + 0.22 * rust  # rust-hit rows give noisier lab assays
    y = mean + rng.normal(0, 1, n) * sd
    X = np.stack([shrub, soil_n, moisture, days, gdd, rust, gap], axis=1)
    return X.astype(np.float32), y.astype(np.float32), mean.astype(np.float32)


Xtr, ytr, _ = simulate(6000)
Xva, yva, mean_va = simulate(1500)
mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
mu_y, sd_y = float(ytr.mean()), float(ytr.std())
Xtr_n = (Xtr - mu_x) / sd_x
Xva_n = (Xva - mu_x) / sd_x
ytr_n = (ytr - mu_y) / sd_y
yva_n = (yva - mu_y) / sd_y

baseline_rmse = float(np.sqrt(np.mean((yva - mu_y) ** 2)))
noise_floor = float(np.sqrt(np.mean((yva - mean_va) ** 2)))  # RMSE of the true law


class OilNet(nn.Module):
    def __init__(self, d_in=7, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.mean_head = nn.Linear(width, 1)
        self.logvar_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def gaussian_nll(model, x, y):
    m, lv = model(x)
    m = m.astype(mx.float32)
    lv = mx.clip(lv.astype(mx.float32), -9.0, 6.0)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv)))


def evaluate(model, dtype=mx.float32):
    x = mx.array(Xva_n).astype(dtype)
    y = mx.array(yva_n)
    m, lv = model(x)
    m = m.astype(mx.float32)
    lv = mx.clip(lv.astype(mx.float32), -9.0, 6.0)
    nll = mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv)))
    rmse = mx.sqrt(mx.mean((m - y) ** 2)) * sd_y
    mx.eval(nll, rmse)
    return nll.item(), rmse.item()


def batches(bs):
    perm = rng.permutation(len(Xtr_n))
    for s in range(0, len(perm) - bs + 1, bs):
        idx = perm[s : s + bs]
        yield mx.array(Xtr_n[idx]), mx.array(ytr_n[idx])


model = OilNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"sea-buckthorn oil model: {n_params} parameters, {len(Xtr)} train / {len(Xva)} val plots")
print(f"baseline (predict mean) val RMSE {baseline_rmse:.3f} %  |  simulator noise floor {noise_floor:.3f} %")
nll0, rmse0 = evaluate(model)
print(f"untrained         val NLL {nll0:+.3f}  val RMSE {rmse0:.3f} %")

# ---------------- stage A: float32 ----------------
BS = 64
steps_per_epoch = len(Xtr_n) // BS
EPOCHS_A = 8
WARM = 100
sched_a = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), lambda step: mx.array(2e-3)],
    [WARM],
)
opt_a = optim.AdamW(learning_rate=sched_a, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, gaussian_nll)

t0 = time.perf_counter()
print("stage A (float32)")
for ep in range(1, EPOCHS_A + 1):
    tot = 0.0
    for xb, yb in batches(BS):
        loss, g = loss_and_grad(model, xb, yb)
        opt_a.update(model, g)
        mx.eval(model.parameters(), opt_a.state, loss)
        tot += loss.item()
    nll, rmse = evaluate(model)
    print(
        f"  epoch {ep:2d}  lr {opt_a.learning_rate.item():.2e}  train NLL {tot / steps_per_epoch:+.3f}"
        f"  val NLL {nll:+.3f}  val RMSE {rmse:.3f} %"
    )

# ---------------- stage B: bfloat16 compute, float32 master ----------------
master = tree_map(lambda p: p.astype(mx.float32), model.parameters())
EPOCHS_B = 10
total_b = EPOCHS_B * steps_per_epoch
opt_b = optim.Adam(learning_rate=optim.cosine_decay(6e-4, total_b, 1e-5))
print("stage B (bfloat16 compute, float32 master weights, cosine restart at 6e-4; reports every 5 epochs)")


def load_half(params):
    model.update(tree_map(lambda p: p.astype(mx.bfloat16), params))


for ep in range(1, EPOCHS_B + 1):
    tot = 0.0
    for xb, yb in batches(BS):
        load_half(master)
        loss, g = loss_and_grad(model, xb.astype(mx.bfloat16), yb)
        g = tree_map(lambda t: t.astype(mx.float32), g)
        master = opt_b.apply_gradients(g, master)
        mx.eval(master, opt_b.state, loss)
        tot += loss.item()
    if ep % 5 == 0:
        load_half(master)
        nll_h, rmse_h = evaluate(model, mx.bfloat16)
        print(
            f"  epoch {ep:2d}  lr {opt_b.learning_rate.item():.2e}  train NLL {tot / steps_per_epoch:+.3f}"
            f"  val NLL(bf16) {nll_h:+.3f}  val RMSE(bf16) {rmse_h:.3f} %"
        )

# ---------------- export float16 checkpoint and reload ----------------
model.update(master)
nll_m, rmse_m = evaluate(model)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "oilnet_f16.safetensors")
    mx.save_safetensors(path, {k: v.astype(mx.float16) for k, v in tree_flatten(master)})
    size_kb = os.path.getsize(path) / 1024
    fresh = OilNet()
    fresh.load_weights(path)
    fresh.update(tree_map(lambda p: p.astype(mx.float32), fresh.parameters()))
    mx.eval(fresh.parameters())
    nll_r, rmse_r = evaluate(fresh)
load_half(master)
nll_h, rmse_h = evaluate(model, mx.bfloat16)

print("summary (val, berry oil %)")
print(f"  float32 master        NLL {nll_m:+.3f}  RMSE {rmse_m:.3f}")
print(f"  bfloat16 compute      NLL {nll_h:+.3f}  RMSE {rmse_h:.3f}")
print(f"  float16 reload ({size_kb:.1f} KB) NLL {nll_r:+.3f}  RMSE {rmse_r:.3f}")
print(f"  predict-mean baseline            RMSE {baseline_rmse:.3f}")
print(f"  noise floor                      RMSE {noise_floor:.3f}")
print(f"done in {time.perf_counter() - t0:.1f}s")
