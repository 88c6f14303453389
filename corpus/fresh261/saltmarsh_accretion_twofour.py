"""Salt-marsh sediment accretion (mm/yr) from 8 field readings.

Dense warm-up, then 2:4 semi-structured sparsity trained with SR-STE
(dense shadow weights, straight-through gradient, decay on the pruned half),
then a locked-mask fine-tune.  Mid-way through the SR-STE stage the run is
checkpointed and resumed into a fresh model + optimizer.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_marsh(n):
    elev = rng.uniform(-0.6, 0.9, n)            # m relative to mean high water
    tide = rng.uniform(1.5, 4.5, n)             # tidal range m
    ssc = rng.lognormal(3.2, 0.5, n)            # suspended sediment mg/L
    veg = rng.uniform(0, 1, n)                  # Spartina cover
    dist = rng.exponential(60, n)               # m to nearest creek
    storm = rng.poisson(2.0, n).astype(float)   # surge events / yr
    organic = rng.uniform(0.05, 0.6, n)         # organic fraction
    slr = rng.uniform(1.0, 6.0, n)              # local sea-level rise mm/yr
    inund = np.clip(0.5 - elev / tide * 1.3, 0, 1)
    acc = (0.9 * inund * np.log(ssc) * (0.6 + 0.8 * veg)
           * np.exp(-dist / 120.0)
           + 0.35 * storm * (1 - veg) ** 2
           + 1.8 * organic * veg
           + 0.25 * slr * np.tanh(2 * inund)
           + rng.normal(0, 0.25, n))
    X = np.stack([elev, tide, np.log(ssc), veg, np.log1p(dist), storm,
                  organic, slr], 1)
    return X.astype(np.float32), acc.astype(np.float32)


Xtr, ytr = make_marsh(12000)
Xva, yva = make_marsh(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_s, yva_s = (ytr - ymu) / ysd, (yva - ymu) / ysd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_s, yva_s = mx.array(ytr_s), mx.array(yva_s)


class MarshNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)
        self.mode = "dense"          # dense | srste | locked
        self._locked = {}

    def sparse_layers(self):
        return {"l2": self.l2, "l3": self.l3}

    def eff_weight(self, name, layer):
        w = layer.weight
        if self.mode == "dense":
            return w
        if self.mode == "locked":
            return w * self._locked[name]
        m = mx.stop_gradient(two_four_mask(w))
        # straight-through: forward sees w*m, backward sees identity
        return w + mx.stop_gradient(w * m - w)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        for name, layer in self.sparse_layers().items():
            w = self.eff_weight(name, layer)
            h = nn.silu(h @ w.T + layer.bias)
        return self.head(h).squeeze(-1)


def two_four_mask(w):
    out_f, in_f = w.shape
    g = mx.abs(w).reshape(out_f, in_f // 4, 4)
    order = mx.argsort(-g, axis=-1)
    rank = mx.argsort(order, axis=-1)
    return (rank < 2).astype(w.dtype).reshape(out_f, in_f)


def srste_decay(model, lam):
    tot = mx.array(0.0)
    for layer in model.sparse_layers().values():
        m = mx.stop_gradient(two_four_mask(layer.weight))
        tot = tot + mx.sum(((1 - m) * layer.weight) ** 2)
    return 0.5 * lam * tot


def task_loss(model, X, y):
    return mx.mean((model(X) - y) ** 2)


def make_step(model, opt, lam):
    def loss_fn(m, X, y):
        mse = task_loss(m, X, y)
        return mse + srste_decay(m, lam) if m.mode == "srste" else mse, mse

    vg = nn.value_and_grad(model, loss_fn)

    def step(X, y):
        (_, mse), grads = vg(model, X, y)
        opt.update(model, grads)
        if model.mode == "locked":
            for name, layer in model.sparse_layers().items():
                layer.weight = layer.weight * model._locked[name]
        mx.eval(model.parameters(), opt.state)
        return mse
    return step


def evaluate(model):
    p = model(Xva)
    mse = mx.mean((p - yva_s) ** 2).item()
    return mse, 1.0 - mse / mx.var(yva_s).item()


def pattern_ok(model):
    good, total = 0, 0
    for name, layer in model.sparse_layers().items():
        w = model.eff_weight(name, layer) if model.mode != "dense" else layer.weight
        w = mx.stop_gradient(w)
        nz = (mx.abs(w) > 0).reshape(w.shape[0], -1, 4).sum(-1)
        good += (nz <= 2).sum().item()
        total += nz.size
    return good / total


def new_opt(peak, warm, total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, 1e-5)], [warm])
    return optim.Adam(learning_rate=sched)


def run_stage(model, opt, steps, lam, label, start=0, log_every=150):
    step = make_step(model, opt, lam)
    n = Xtr.shape[0]
    bs = 128
    for it in range(start, steps):
        idx = mx.array(rng.integers(0, n, bs))
        mse = step(Xtr[idx], ytr_s[idx])
        if it % log_every == 0 or it == steps - 1:
            vm, r2 = evaluate(model)
            lr = opt.learning_rate.item()
            print(f"[{label}] step {it:4d} lr {lr:.2e} train_mse {mse.item():.4f} "
                  f"val_mse {vm:.4f} val_R2 {r2:.3f} 2:4_groups_ok {pattern_ok(model):.2f}")
    return model


t0 = time.time()
base_mse = mx.mean((yva_s - ytr_s.mean()) ** 2).item()
print(f"baseline (predict train mean) val_mse {base_mse:.4f}")
lin = np.linalg.lstsq(np.c_[np.array(Xtr), np.ones(12000)], np.array(ytr_s), rcond=None)[0]
lin_mse = float(np.mean((np.c_[np.array(Xva), np.ones(3000)] @ lin - np.array(yva_s)) ** 2))
print(f"baseline (least squares)       val_mse {lin_mse:.4f}")

model = MarshNet()
mx.eval(model.parameters())

# stage 1: dense
opt = new_opt(2e-3, 80, 700)
run_stage(model, opt, 700, 0.0, "dense")
dense_mse, dense_r2 = evaluate(model)

# stage 2: SR-STE 2:4, with a checkpoint + resume half way
model.mode = "srste"
LAM = 2e-4
opt = new_opt(1e-3, 100, 1200)
run_stage(model, opt, 600, LAM, "srste")
ckdir = tempfile.mkdtemp(suffix="_marsh_ck")
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"),
                    dict(tree_flatten(opt.state)))
print(f"checkpoint written at step 600 -> {ckdir}")
del model, opt

model = MarshNet()
model.load_weights(os.path.join(ckdir, "w.safetensors"))
model.mode = "srste"
opt = new_opt(1e-3, 100, 1200)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"resumed at step {opt.state['step'].item()} lr {opt.learning_rate.item():.2e}")
run_stage(model, opt, 1200, LAM, "srste", start=600)

# stage 3: freeze the 2:4 pattern and fine-tune the surviving weights
model._locked = {n: two_four_mask(l.weight) for n, l in model.sparse_layers().items()}
for n, l in model.sparse_layers().items():
    l.weight = l.weight * model._locked[n]
model.mode = "locked"
opt = new_opt(3e-4, 50, 500)
run_stage(model, opt, 500, 0.0, "locked")

final_mse, final_r2 = evaluate(model)
zeros = sum((l.weight == 0).sum().item() for l in model.sparse_layers().values())
total = sum(l.weight.size for l in model.sparse_layers().values())
print(f"dense  val_mse {dense_mse:.4f} R2 {dense_r2:.3f}")
print(f"2:4    val_mse {final_mse:.4f} R2 {final_r2:.3f}  zeroed {zeros}/{total} "
      f"({zeros / total:.0%}) pattern_ok {pattern_ok(model):.2f}")
rmse_mm = np.sqrt(final_mse) * ysd
print(f"val RMSE {rmse_mm:.3f} mm/yr (noise sd 0.25)  time {time.time() - t0:.1f}s")
