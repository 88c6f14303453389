"""Wheelwright shop: contractive autoencoder over ultrasonic felloe thickness scans.

Each wooden wheel rim segment (felloe) is scanned at 20 points. Readings depend on
wood density, moisture and where the spoke tenons sit, plus probe noise.
Stage A trains a plain autoencoder, stage B adds the contractive penalty.
The run is checkpointed half way through stage B and resumed from disk.
"""
import os
import shutil
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, D, H = 4000, 800, 20, 12


def make_scans(n):
    pos = np.linspace(0.0, 1.0, D)
    density = rng.uniform(-1, 1, size=(n, 1))
    moisture = rng.uniform(-1, 1, size=(n, 1))
    tenon = rng.uniform(0.2, 0.8, size=(n, 1))
    base = 1.2 * density + 0.6 * np.tanh(2 * moisture) * np.cos(np.pi * pos)
    joint = 0.9 * np.exp(-((pos - tenon) ** 2) / 0.004)
    return (base + joint + 0.25 * rng.standard_normal((n, D))).astype(np.float32)


train_np, val_np = make_scans(N_TRAIN), make_scans(N_VAL)
mu, sd = train_np.mean(0), train_np.std(0)
train_np, val_np = (train_np - mu) / sd, (val_np - mu) / sd
train_x, val_x = mx.array(train_np), mx.array(val_np)

# reference: best rank-12 linear reconstruction (PCA) of the validation scans
_, _, vt = np.linalg.svd(train_np, full_matrices=False)
proj = vt[:H].T @ vt[:H]
pca_ref = float(np.mean((val_np @ proj - val_np) ** 2))


class Contractive(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(D, H)
        self.dec = nn.Linear(H, D)

    def __call__(self, x):
        h = mx.sigmoid(self.enc(x))
        return self.dec(h), h


def jac_sq(model, h):
    # squared Frobenius norm of dh/dx for a sigmoid layer, per example
    row_norm = mx.sum(model.enc.weight ** 2, axis=1)
    return mx.sum(((h * (1 - h)) ** 2) * row_norm, axis=1)


def loss_fn(model, x, lam):
    xr, h = model(x)
    rec = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    pen = mx.mean(jac_sq(model, h))
    return rec + lam * pen, (rec, pen)


WARM, STAGE_A, STAGE_B, BATCH = 100, 600, 600, 100
TOTAL = STAGE_A + STAGE_B
CKPT_AT = STAGE_A + 300
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 3e-4)], [WARM]
)


def build():
    m = Contractive()
    o = optim.Adam(learning_rate=schedule)
    return m, o


mx.random.seed(11)
model, opt = build()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)
probe = val_x[:256]

print("---")
print(f"data: {{train: {N_TRAIN}, val: {N_VAL}, dims: {D}, code: {H}}}")
print(f"reference: {{pca{H}_val_mse_per_dim: {pca_ref:.4f}}}")

(_, _), g0 = grad_fn(model, train_x[:BATCH], mx.array(0.6))
leaves = tree_flatten(g0)
print(f"grad_audit: {{leaves: {len(leaves)}, zero: {sum(float(mx.abs(v).max()) == 0.0 for _, v in leaves)}}}")

tmp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "felloe_ckpt")
os.makedirs(tmp, exist_ok=True)
perm = rng.permutation(N_TRAIN)
cursor = 0
t0 = time.time()
window = []
for step in range(TOTAL):
    stage = "A" if step < STAGE_A else "B"
    lam = mx.array(0.0 if stage == "A" else 0.6)
    if cursor + BATCH > N_TRAIN:
        perm, cursor = rng.permutation(N_TRAIN), 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    lr_used = float(schedule(opt.step)) if step > 0 else 0.0
    (loss, (rec, pen)), grads = grad_fn(model, train_x[idx], lam)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, rec, pen)
    window.append((float(loss), float(rec), float(pen)))

    if step + 1 == CKPT_AT:
        before = float(loss_fn(model, probe, mx.array(0.6))[0])
        mx.save_safetensors(os.path.join(tmp, "model.safetensors"), dict(tree_flatten(model.parameters())))
        mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
        del model, opt, grad_fn
        model, opt = build()
        model.load_weights(os.path.join(tmp, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        grad_fn = nn.value_and_grad(model, loss_fn)
        after = float(loss_fn(model, probe, mx.array(0.6))[0])
        print("---")
        print(f"resume: {{at_step: {step + 1}, opt_step: {int(opt.step)}, probe_before: {before:.5f}, probe_after: {after:.5f}}}")

    if step == 0 or (step + 1) % 150 == 0:
        w = np.array(window)
        window = []
        xr, h = model(val_x)
        vrec = float(mx.mean((xr - val_x) ** 2))
        vjac = float(mx.mean(jac_sq(model, h)))
        print("---")
        print(f"step: {step + 1}")
        print(f"stage: {stage}")
        print(f"lambda: {float(lam):.3f}")
        print(f"lr: {lr_used:.2e}")
        print(f"train: {{objective: {w[:, 0].mean():.4f}, recon_sum: {w[:, 1].mean():.4f}, jac_fro2: {w[:, 2].mean():.4f}}}")
        print(f"val: {{mse_per_dim: {vrec:.4f}, pca_ref: {pca_ref:.4f}, jac_fro2: {vjac:.4f}}}")
        print(f"elapsed_s: {time.time() - t0:.1f}")

xr, h = model(val_x)
print("---")
print(f"done: {{steps: {TOTAL}, val_mse_per_dim: {float(mx.mean((xr - val_x) ** 2)):.4f}, "
      f"val_jac_fro2: {float(mx.mean(jac_sq(model, h))):.4f}}}")
shutil.rmtree(tmp)
