"""Sugarbush evaporator log: syrup yield per 1000 L of sap.

Switch-style top-1 mixture of experts with a per-batch expert capacity,
a load-balancing term and a router z-loss. The run is checkpointed half
way, every object is rebuilt from scratch, the checkpoint is loaded and
training goes on from the saved step.
"""
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_EXPERTS = 4
CAP_FACTOR = 1.25
BATCH = 128
TOTAL_STEPS = 700
SAVE_AT = 350
WARMUP = 80


def make_sap(rng, n):
    day = rng.uniform(0, 50, n)                  # day of the sugaring season
    brix = np.clip(2.6 - 0.025 * day + rng.normal(0, 0.35, n), 0.8, 4.0)
    low = rng.uniform(-12, 2, n)                  # overnight low, C
    high = rng.uniform(-2, 12, n)                 # daytime high, C
    fire = rng.uniform(0.4, 1.0, n)               # evaporator firing rate
    volume = rng.uniform(200, 2000, n)            # sap boiled that day, L
    base = 1000.0 * brix / 86.0                   # rule of 86
    early = day < 15
    late = day > 35
    eff = np.where(early, 0.97 - 0.04 * (1 - fire),
          np.where(late, 0.80 + 0.10 * np.tanh((high - 6) / 3) - 0.06 * (volume / 2000),
                   0.92 - 0.08 * (fire - 0.7) ** 2 * 4 + 0.02 * np.sin(low / 3)))
    y = base * eff + rng.normal(0, 0.6, n)
    X = np.stack([day / 50, brix, low / 10, high / 10, fire, volume / 1000], 1)
    return X.astype(np.float32), y.astype(np.float32)


class Expert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.up = nn.Linear(d, h)
        self.down = nn.Linear(h, d)

    def __call__(self, x):
        return self.down(nn.silu(self.up(x)))


class SwitchBlock(nn.Module):
    def __init__(self, d, h, n_experts, cap_factor):
        super().__init__()
        self.router = nn.Linear(d, n_experts, bias=False)
        self.experts = [Expert(d, h) for _ in range(n_experts)]
        self.n_experts = n_experts
        self.cap_factor = cap_factor

    def __call__(self, x):
        n = x.shape[0]
        logits = self.router(x)
        probs = mx.softmax(logits, axis=-1)
        choice = mx.stop_gradient(mx.argmax(probs, axis=-1))
        onehot = (choice[:, None] == mx.arange(self.n_experts)[None, :]).astype(x.dtype)
        capacity = int(math.ceil(self.cap_factor * n / self.n_experts))
        slot = mx.cumsum(onehot, axis=0) * onehot
        kept = onehot * (slot <= capacity).astype(x.dtype)
        gate = mx.sum(probs * onehot, axis=-1, keepdims=True)
        outs = mx.stack([e(x) for e in self.experts], axis=1)      # (n, E, d)
        mixed = mx.sum(outs * kept[:, :, None], axis=1) * gate
        frac = mx.mean(onehot, axis=0)
        aux = self.n_experts * mx.sum(frac * mx.mean(probs, axis=0))
        z = mx.mean(mx.logsumexp(logits, axis=-1) ** 2)
        dropped = 1.0 - mx.sum(kept) / n
        return x + mixed, aux, z, dropped, frac


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(6, 32)
        self.moe = SwitchBlock(32, 64, N_EXPERTS, CAP_FACTOR)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.stem(x))
        h, aux, z, dropped, frac = self.moe(h)
        return self.head(self.norm(h)).squeeze(-1), aux, z, dropped, frac


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARMUP),
         optim.cosine_decay(3e-3, TOTAL_STEPS - WARMUP, 1e-4)], [WARMUP])


def build(seed):
    mx.random.seed(seed)
    model = YieldNet()
    opt = optim.Adam(learning_rate=schedule())
    return model, opt


rng = np.random.default_rng(7)
Xtr, ytr = make_sap(rng, 8000)
Xva, yva = make_sap(rng, 1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
Xva_m = mx.array((Xva - mu) / sd)
baseline_mae = float(np.mean(np.abs(yva - ymu)))


def loss_fn(model, xb, yb):
    pred, aux, z, dropped, frac = model(xb)
    mse = mx.mean((pred - yb) ** 2)
    total = mse + 0.01 * aux + 1e-3 * z
    return total, (mse, aux, z, dropped, frac)


def val_mae(model):
    pred, *_ = model(Xva_m)
    return float(mx.mean(mx.abs(pred * ysd + ymu - mx.array(yva))))


def train_steps(model, opt, start, stop, order_rng, tag):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.array(order_rng.integers(0, Xtr_m.shape[0], BATCH))
        (total, (mse, aux, z, dropped, frac)), g = grad_fn(model, Xtr_m[idx], ytr_m[idx])
        lr_now = float(opt.learning_rate)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, total)
        if step % 50 == 0 or step == stop - 1:
            share = "/".join(f"{100 * float(v):.0f}" for v in frac)
            print(f"{tag},{step},{lr_now:.6f},{float(total):.4f},{float(mse):.4f},"
                  f"{float(aux):.3f},{float(z):.3f},{100 * float(dropped):.1f},{share},"
                  f"{val_mae(model):.3f},{baseline_mae:.3f}")


t0 = time.time()
print(f"# sap rows train={len(ytr)} val={len(yva)}  mean yield {ymu:.2f} L/1000L  "
      f"experts={N_EXPERTS} capacity_factor={CAP_FACTOR}")
model, opt = build(0)
g_probe = nn.value_and_grad(model, loss_fn)(model, Xtr_m[:BATCH], ytr_m[:BATCH])[1]
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g_probe)
         if k.endswith("weight") and ("router" in k or "experts.0" in k or "head" in k)}
print("# grad-probe " + " ".join(f"{k}={v:.2e}" for k, v in norms.items()))
print("phase,step,lr,loss_total,mse_z,balance,zloss,drop_pct,expert_share_pct,val_mae_L,mean_guess_mae_L")
train_steps(model, opt, 0, SAVE_AT, np.random.default_rng(100), "first")

ckpt = tempfile.mkdtemp(None, "sugarbush_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"step": SAVE_AT, "val_mae": val_mae(model)}, f)
before = val_mae(model)
del model, opt

model, opt = build(123)
fresh = val_mae(model)
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    meta = json.load(f)
after = val_mae(model)
print(f"# checkpoint {ckpt} step={meta['step']} val_mae saved={meta['val_mae']:.3f} "
      f"rebuilt_untrained={fresh:.3f} reloaded={after:.3f} diff={abs(after - before):.2e} "
      f"opt_step={int(opt.state['step'])} lr={float(opt.learning_rate):.6f}")
train_steps(model, opt, meta["step"], TOTAL_STEPS, np.random.default_rng(200), "resumed")
final = val_mae(model)
shutil.rmtree(ckpt)
print(f"# done val_mae={final:.3f} L/1000L vs mean-guess {baseline_mae:.3f}  "
      f"skill={100 * (1 - final / baseline_mae):.1f}%  secs={time.time() - t0:.1f}")
