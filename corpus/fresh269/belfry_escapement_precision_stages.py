"""Turret-clock regulation: predict the daily rate (seconds/day) of a tower clock
from weekly maintenance readings. Stage A trains cheaply in bfloat16 (LayerNorm kept
in float32), stage B upcasts everything to float32 and polishes with a fresh AdamW."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL, NOISE = 8000, 2000, 0.6  # noise sd in s/day


def simulate(n):
    temp = rng.uniform(-10, 32, n)          # tower temperature, C
    humid = rng.uniform(30, 95, n)          # relative humidity, %
    bob = rng.uniform(-6, 6, n)             # rating-nut turns from datum
    oil = rng.uniform(0, 52, n)             # weeks since oiling
    wind = rng.gamma(2.0, 4.0, n)           # wind on the dial hands, m/s
    drop = rng.uniform(0.2, 1.0, n)         # fraction of weight drop left
    rate = (0.42 * (temp - 12) - 1.9 * bob + 0.0011 * oil ** 2
            + 0.18 * wind * np.sin(temp / 9) - 2.5 * (1 - drop) ** 3
            + 0.015 * (humid - 60) + rng.normal(0, NOISE, n))
    x = np.stack([temp, humid, bob, oil, wind, drop], 1).astype(np.float32)
    return x, rate.astype(np.float32)


xtr, ytr = simulate(N_TRAIN)
xva, yva = simulate(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)


class RateNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.block = nn.Linear(width, width)
        self.ln = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        x = x.astype(self.inp.weight.dtype)
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.block(self.ln(h).astype(h.dtype)))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean(mx.square(model(x).astype(mx.float32) - y))


def val_rmse_s(model):
    return math.sqrt(mse(model, Xva, Yva).item()) * float(ysd)


def dtypes(model):
    return sorted({str(v.dtype).split(".")[-1] for _, v in tree_flatten(model.parameters())})


mx.random.seed(3)
model = RateNet()
# stage A dtype policy: everything bf16 except the LayerNorm affine params
model.set_dtype(mx.bfloat16)
model.ln.set_dtype(mx.float32)
mx.eval(model.parameters())

base_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
print(f"clock data: train {N_TRAIN}, val {N_VAL}; predict-the-mean val rmse {base_rmse:.3f} s/day; "
      f"noise floor {NOISE:.3f} s/day")
print(f"stage A dtypes {dtypes(model)}; untrained val rmse {val_rmse_s(model):.3f} s/day")


def run_stage(tag, model, opt, steps, batch, report_every, quiet=False):
    loss_and_grad = nn.value_and_grad(model, mse)
    perm, cur = np.random.default_rng(5).permutation(N_TRAIN), 0
    ema = None
    t0 = time.time()
    for step in range(1, steps + 1):
        if cur + batch > N_TRAIN:
            perm, cur = np.random.default_rng(step).permutation(N_TRAIN), 0
        idx = mx.array(perm[cur:cur + batch])
        cur += batch
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        if step == 1:
            gd = sorted({str(g.dtype).split(".")[-1] for _, g in tree_flatten(grads)})
            zero = [k for k, g in tree_flatten(grads) if mx.all(g == 0).item()]
            lr0 = float(opt.learning_rate.item())
            print(f"{tag} grad check: {len(tree_flatten(grads))} leaves, grad dtypes {gd}, "
                  f"zero leaves {zero or 'none'}, lr applied at step 1 {lr0:.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema = loss.item() if ema is None else 0.97 * ema + 0.03 * loss.item()
        if not quiet and step % report_every == 0:
            print(f"{tag} step {step:4d} | lr {opt.learning_rate.item():.2e} | "
                  f"train mse(z) ema {ema:.4f} | val rmse {val_rmse_s(model):.3f} s/day | "
                  f"{time.time() - t0:.1f}s")
    return ema


# stage A: bf16 weights, plain Adam, no per-step output
ema_a = run_stage("A", model, optim.Adam(learning_rate=2e-3), steps=1500, batch=128,
                  report_every=0, quiet=True)
rmse_a = val_rmse_s(model)
print(f"A done: 1500 steps, train mse(z) ema {ema_a:.4f}, val rmse {rmse_a:.3f} s/day")

# stage B: upcast the whole model, fresh AdamW, warm-up from exactly zero then cosine
model.set_dtype(mx.float32)
mx.eval(model.parameters())
print(f"stage B dtypes {dtypes(model)}; val rmse after upcast {val_rmse_s(model):.3f} s/day")
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, 200), optim.cosine_decay(1e-3, 1300, 1e-5)], [200])
ema_b = run_stage("B", model, optim.AdamW(learning_rate=sched, weight_decay=1e-4),
                  steps=1500, batch=128, report_every=250)
rmse_b = val_rmse_s(model)
print(f"done: val rmse {base_rmse:.3f} (mean guess) -> {rmse_a:.3f} (stage A) -> {rmse_b:.3f} s/day "
      f"(stage B); noise floor {NOISE:.3f}; final dtypes {dtypes(model)}")
