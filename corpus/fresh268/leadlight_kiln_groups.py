"""Stained-glass studio: colour shift (Delta E) of a fired glass paint.

Predict the colour shift of a painted test tile after firing from the glass
sheet it was painted on (24 sheet types, learned embedding) and six kiln /
paint readings.  Two stages:
  stage 1  "probe": sheet embedding and trunk frozen, only the head trains
  stage 2  full fine-tune with three parameter groups (embedding / matrices /
           biases+norms), each warming up from lr 0, with a checkpoint and a
           resume half way through stage 2.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(268)
N_SHEETS = 24
iron = rng.uniform(-0.6, 0.9, N_SHEETS)
lead = rng.uniform(0.2, 1.8, N_SHEETS)
NOISE_DE = 0.6


def make_tiles(n):
    sheet = rng.integers(0, N_SHEETS, n)
    peak = rng.uniform(560, 700, n)
    soak = rng.uniform(0, 30, n)
    thick = rng.uniform(5, 60, n)
    frit = rng.uniform(10, 60, n)
    cool = rng.uniform(50, 300, n)
    coats = rng.integers(1, 5, n).astype(np.float64)
    de = (2.0 + 0.035 * (peak - 630) * (1 + iron[sheet])
          + 1.5 * np.tanh(thick / 25) * lead[sheet]
          + 0.8 * np.sin(frit / 12) + 0.3 * coats * soak / 15 - 0.004 * cool
          + NOISE_DE * rng.standard_normal(n))
    x = np.stack([peak, soak, thick, frit, cool, coats], 1)
    return sheet.astype(np.int32), x.astype(np.float32), de.astype(np.float32)


s_tr, x_tr, y_tr = make_tiles(9000)
s_va, x_va, y_va = make_tiles(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())

# baselines on the validation tiles
per_sheet = np.array([y_tr[s_tr == k].mean() for k in range(N_SHEETS)])
base_sheet = float(np.sqrt(np.mean((per_sheet[s_va] - y_va) ** 2)))
A = np.c_[x_tr, np.ones(len(x_tr))]
coef, *_ = np.linalg.lstsq(A, y_tr, rcond=None)
base_lin = float(np.sqrt(np.mean((np.c_[x_va, np.ones(len(x_va))] @ coef - y_va) ** 2)))

S_tr, X_tr, Y_tr = mx.array(s_tr), mx.array(x_tr), mx.array((y_tr - y_mu) / y_sd)
S_va, X_va = mx.array(s_va), mx.array(x_va)


class TileNet(nn.Module):
    def __init__(self, n_sheets, d_emb=8, width=64):
        super().__init__()
        self.sheet = nn.Embedding(n_sheets, d_emb)
        self.trunk = nn.Sequential(
            nn.Linear(6 + d_emb, width), nn.LayerNorm(width), nn.GELU(),
            nn.Linear(width, width), nn.LayerNorm(width), nn.GELU(),
        )
        self.head = nn.Linear(width, 1)

    def __call__(self, s, x):
        h = mx.concatenate([x, self.sheet(s)], axis=-1)
        return self.head(self.trunk(h)).squeeze(-1)


def loss_fn(model, s, x, y):
    return nn.losses.mse_loss(model(s, x), y)


def val_rmse(model):
    pred = np.array(model(S_va, X_va)) * y_sd + y_mu
    return float(np.sqrt(np.mean((pred - y_va) ** 2)))


def snapshot(model):
    return {k: np.array(v) for k, v in tree_flatten(model.parameters())}


def drift(model, ref, scope):
    num = den = 0.0
    for k, v in tree_flatten(model.parameters()):
        if k.startswith(scope):
            num += float(np.sum((np.array(v) - ref[k]) ** 2))
            den += float(np.sum(ref[k] ** 2))
    return (num / den) ** 0.5


BATCH = 128
STEPS_PER_EPOCH = len(x_tr) // BATCH
WARMUP = 150
PROBE_EPOCHS, TUNE_EPOCHS, SAVE_AFTER = 4, 12, 6


def stage2_optimizer():
    total = TUNE_EPOCHS * STEPS_PER_EPOCH

    def sched(peak):
        return optim.join_schedules(
            [optim.linear_schedule(0.0, peak, WARMUP),
             optim.cosine_decay(peak, total - WARMUP, peak * 0.05)],
            [WARMUP])

    return optim.MultiOptimizer(
        [optim.Adam(learning_rate=sched(6e-3)),
         optim.AdamW(learning_rate=sched(2e-3), betas=[0.9, 0.95], weight_decay=0.05),
         optim.Adam(learning_rate=sched(2e-3))],
        [lambda path, w: path.startswith("sheet."),
         lambda path, w: w.ndim >= 2],
    )


def run_epoch(model, opt, step_fn, order, show_first=0):
    tot = 0.0
    for i in range(STEPS_PER_EPOCH):
        idx = mx.array(order[i * BATCH:(i + 1) * BATCH])
        loss, grads = step_fn(model, S_tr[idx], X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        if i < show_first:
            lr = [o.learning_rate.item() for o in opt.optimizers]
            print(f"[tune]   step {i + 1} loss {loss.item():.4f} lr {lr[0]:.2e}/{lr[1]:.2e}/{lr[2]:.2e} "
                  f"val rmse {val_rmse(model):.3f} dE")
    return tot / STEPS_PER_EPOCH


mx.random.seed(7)
model = TileNet(N_SHEETS)
start = snapshot(model)
print(f"tiles train {len(x_tr)} val {len(x_va)} | noise floor {NOISE_DE:.2f} dE | "
      f"baseline per-sheet mean {base_sheet:.3f} dE, linear {base_lin:.3f} dE")
print(f"untrained val rmse {val_rmse(model):.3f} dE")

# ---- stage 1: probe the head only
model.freeze()
model.head.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[probe] trainable params {n_train}")
probe_opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for ep in range(1, PROBE_EPOCHS + 1):
    tr = run_epoch(model, probe_opt, step_fn, rng.permutation(len(x_tr)))
    print(f"[probe] ep {ep:2d} train mse {tr:.4f} val rmse {val_rmse(model):.3f} dE | "
          f"drift emb {drift(model, start, 'sheet.'):.4f} trunk {drift(model, start, 'trunk.'):.4f} "
          f"head {drift(model, start, 'head.'):.4f}")

# ---- stage 2: full fine-tune with parameter groups
model.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[tune] trainable params {n_train} | groups: embedding Adam 6e-3, matrices AdamW wd 0.05 "
      f"b2 0.95, biases+norms Adam 2e-3 | warmup {WARMUP} steps from 0")
opt = stage2_optimizer()
step_fn = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp()
ep = 1
while ep <= TUNE_EPOCHS:
    tr = run_epoch(model, opt, step_fn, rng.permutation(len(x_tr)), 3 if ep == 1 else 0)
    lrs = [o.learning_rate.item() for o in opt.optimizers]
    print(f"[tune] ep {ep:2d} step {opt.optimizers[0].step.item():5d} lr {lrs[0]:.2e}/{lrs[1]:.2e}/{lrs[2]:.2e} "
          f"train mse {tr:.4f} val rmse {val_rmse(model):.3f} dE | drift emb {drift(model, start, 'sheet.'):.3f} "
          f"trunk {drift(model, start, 'trunk.'):.3f}")
    if ep == SAVE_AFTER:
        before = val_rmse(model)
        model.save_weights(os.path.join(ckpt_dir, "tile.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"[tune] checkpoint written after epoch {ep} -> {ckpt_dir}")
        # resume as a fresh process would: new model, new optimizer, load both
        model = TileNet(N_SHEETS)
        model.load_weights(os.path.join(ckpt_dir, "tile.safetensors"))
        opt = stage2_optimizer()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"[tune] resumed at step {opt.optimizers[0].step.item()} val rmse {val_rmse(model):.3f} dE "
              f"(before save {before:.3f})")
    ep += 1

shutil.rmtree(ckpt_dir)
final = val_rmse(model)
print(f"final val rmse {final:.3f} dE | per-sheet baseline {base_sheet:.3f} | linear {base_lin:.3f} | "
      f"noise floor {NOISE_DE:.2f} | {time.time() - t0:.1f}s")
