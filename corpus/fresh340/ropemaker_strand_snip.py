"""Ropewalk test bench: breaking load of laid hemp/manila rope from 8 readings.

Single-shot connection-sensitivity pruning at initialisation (|w * dL/dw| on
one batch, 80% of hidden weights removed globally), then training of the sparse
net with a heteroscedastic Gaussian NLL (mean + log-variance heads) under
cosine warm restarts. Training runs in two sessions: session 1 saves weights,
masks and optimizer state; session 2 rebuilds everything and resumes.
"""
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

SEED = 11
np.random.seed(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- synthetic data
N_TRAIN, N_VAL, D = 9000, 2000, 8
COLS = ["strands", "twist_tpm", "lay_angle", "tenacity", "diameter_mm",
        "moisture", "tar_pct", "age_years"]


def make(n):
    x = np.random.randn(n, D).astype(np.float32)
    mu = (1.6 * x[:, 4] + 0.5 * np.tanh(x[:, 3]) - 0.35 * (x[:, 2] - 0.3) ** 2
          + 0.3 * x[:, 0] * x[:, 1] - 0.25 * np.abs(x[:, 7]) - 0.2 * x[:, 5] * x[:, 6])
    sd = 0.08 + 0.12 / (1.0 + np.exp(-2.0 * x[:, 7]))   # old rope is less predictable
    y = mu + sd * np.random.randn(n)
    return x, y.astype(np.float32), mu, sd


xtr, ytr, _, _ = make(N_TRAIN)
xva, yva, muva, sdva = make(N_VAL)
y_mean, y_std = ytr.mean(), ytr.std()
ytr_s, yva_s = (ytr - y_mean) / y_std, (yva - y_mean) / y_std
mu_s, sd_s = (muva - y_mean) / y_std, sdva / y_std
# reference numbers for the val set
oracle_nll = float(np.mean(0.5 * np.log(2 * np.pi * sd_s ** 2) + 0.5 * ((yva_s - mu_s) / sd_s) ** 2))
oracle_rmse = float(np.sqrt(np.mean((yva_s - mu_s) ** 2)))
mean_rmse = float(np.sqrt(np.mean(yva_s ** 2)))
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr_s, xva, yva_s))


class StrandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = [nn.Linear(D, 128), nn.Linear(128, 128), nn.Linear(128, 128)]
        self.mean_head = nn.Linear(128, 1)
        self.logvar_head = nn.Linear(128, 1)

    def __call__(self, x):
        h = x
        for lin in self.body:
            h = nn.gelu(lin(h))
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def nll(m, x, y):
    mean, logvar = m(x)
    logvar = mx.clip(logvar, -9.0, 4.0)
    return mx.mean(0.5 * (math.log(2 * math.pi) + logvar) + 0.5 * (y - mean) ** 2 * mx.exp(-logvar))


def prunable(path):
    return path.startswith("body.") and path.endswith("weight")


def apply_masks(m, masks):
    flat = dict(tree_flatten(m.parameters()))
    m.update(tree_unflatten([(k, flat[k] * v) for k, v in masks.items()]))


def mask_grads(grads, masks):
    flat = dict(tree_flatten(grads))
    for k, v in masks.items():
        flat[k] = flat[k] * v
    return tree_unflatten(list(flat.items()))


CYCLES = [250, 250, 500, 500]          # cosine warm restarts, lengths in steps
LR_MAX, LR_MIN, BATCH = 3e-3, 5e-5, 128
TOTAL = sum(CYCLES)
SAVE_AT = CYCLES[0] + CYCLES[1]        # session 1 ends after two cycles


def lr_at(step):
    start = 0
    for length in CYCLES:
        if step < start + length:
            t = (step - start) / length
            return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))
        start += length
    return LR_MIN


def val_metrics(m):
    mean, logvar = m(Xva)
    rmse = mx.sqrt(mx.mean((mean - Yva) ** 2)).item()
    return nll(m, Xva, Yva).item(), rmse


def run(m, opt, masks, first, last, rng):
    loss_and_grad = nn.value_and_grad(m, nll)
    window = []
    for step in range(first, last):
        opt.learning_rate = lr_at(step)
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        loss, grads = loss_and_grad(m, Xtr[idx], Ytr[idx])
        opt.update(m, mask_grads(grads, masks))
        apply_masks(m, masks)          # decoupled weight decay must not revive pruned weights
        mx.eval(m.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 125 == 0:
            vn, vr = val_metrics(m)
            print(f"step {step + 1:5d} | lr {opt.learning_rate.item():.2e} | "
                  f"train nll {np.mean(window):+.4f} | val nll {vn:+.4f} | val rmse {vr:.4f}")
            window = []


print(f"ropewalk bench: {N_TRAIN} train / {N_VAL} val ropes, target standardised "
      f"(mean {y_mean:.3f}, sd {y_std:.3f})")
print(f"reference: predict-the-mean rmse {mean_rmse:.4f}, oracle rmse {oracle_rmse:.4f}, "
      f"oracle nll {oracle_nll:+.4f}")

t0 = time.time()
model = StrandNet()
mx.eval(model.parameters())

# ---- connection sensitivity at initialisation, one large batch
_, g0 = nn.value_and_grad(model, nll)(model, Xtr[:1024], Ytr[:1024])
params = dict(tree_flatten(model.parameters()))
grads0 = dict(tree_flatten(g0))
saliency = {k: mx.abs(params[k] * grads0[k]) for k in params if prunable(k)}
allsal = mx.concatenate([v.reshape(-1) for v in saliency.values()])
KEEP = 0.20
kth = int(allsal.size * (1 - KEEP))
thresh = mx.sort(allsal)[kth]
masks = {k: (v >= thresh).astype(mx.float32) for k, v in saliency.items()}
apply_masks(model, masks)
mx.eval(model.parameters())
for k, v in masks.items():
    print(f"  {k:16s} kept {v.mean().item():.3f} of {v.size}")
vn, vr = val_metrics(model)
print(f"after pruning at init: val nll {vn:+.4f}, val rmse {vr:.4f}")

# ---- session 1
opt = optim.AdamW(learning_rate=LR_MAX, weight_decay=1e-3)
rng = np.random.default_rng(SEED)
run(model, opt, masks, 0, SAVE_AT, rng)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optim.safetensors"), dict(tree_flatten(opt.state)))
mx.save_safetensors(os.path.join(ckpt, "masks.safetensors"), masks)
np.save(os.path.join(ckpt, "step.npy"), np.array([SAVE_AT]))
ref_nll, _ = val_metrics(model)
print(f"checkpoint written after step {SAVE_AT} (val nll {ref_nll:+.4f})")
del model, opt, masks

# ---- session 2: fresh objects, restore, continue
model = StrandNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
masks = mx.load(os.path.join(ckpt, "masks.safetensors"))
opt = optim.AdamW(learning_rate=LR_MAX, weight_decay=1e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optim.safetensors")).items()))
start = int(np.load(os.path.join(ckpt, "step.npy"))[0])
mx.eval(model.parameters(), opt.state)
chk_nll, _ = val_metrics(model)
print(f"resumed at step {start}: val nll {chk_nll:+.4f} (saved {ref_nll:+.4f}), "
      f"optimizer step {int(opt.state['step'].item())}")
run(model, opt, masks, start, TOTAL, np.random.default_rng(SEED + 1))

vn, vr = val_metrics(model)
kept = sum(float(mx.sum(dict(tree_flatten(model.parameters()))[k] != 0).item()) for k in masks)
total = sum(v.size for v in masks.values())
print(f"final: val nll {vn:+.4f} (oracle {oracle_nll:+.4f}), val rmse {vr:.4f} "
      f"(oracle {oracle_rmse:.4f}, mean {mean_rmse:.4f}), nonzero hidden weights {kept / total:.3f}, "
      f"{time.time() - t0:.1f}s")
shutil.rmtree(ckpt)
