"""TopK sparse autoencoder with an AuxK term for latents that stopped firing.

Synthetic 'quarry core-scan' spectra: 40 sparse mineral signatures packed into
20 channels. 80 latents, k = 4 active per sample. A latent that has not been
among the top-k for 150 steps counts as idle; AuxK lets the idle latents
reconstruct the residual with their own top-k_aux so they can come back.
Decoder rows are kept at unit norm after every step.
Progress is written as ledger transactions.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

D, N_TRUE, N_LAT, K, K_AUX = 20, 40, 80, 4, 16
IDLE_AFTER = 150
STEPS, BATCH = 2400, 256
AUX_W = 1.0 / 32

rng = np.random.default_rng(11)
atoms = rng.normal(size=(N_TRUE, D)).astype(np.float32)
atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
freq = np.linspace(0.15, 0.02, N_TRUE).astype(np.float32)


def sample(n):
    on = rng.random((n, N_TRUE)) < freq
    mag = rng.uniform(0.5, 1.5, (n, N_TRUE)).astype(np.float32)
    x = (on * mag) @ atoms + 0.01 * rng.normal(size=(n, D)).astype(np.float32)
    return mx.array(x.astype(np.float32))


def topk_mask(z, k):
    kth = mx.sort(z, axis=-1)[:, -k][:, None]
    return z >= kth


class TopKSAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.W_enc = mx.random.normal((D, N_LAT)) * (1.0 / math.sqrt(D))
        self.b_enc = mx.zeros((N_LAT,))
        w = np.array(self.W_enc).T.copy()
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        self.W_dec = mx.array(w)
        self.b_pre = mx.zeros((D,))

    def pre(self, x):
        return (x - self.b_pre) @ self.W_enc + self.b_enc

    def __call__(self, x):
        p = self.pre(x)
        z = mx.where(topk_mask(p, K), mx.maximum(p, 0.0), 0.0)
        return z, z @ self.W_dec + self.b_pre, p


def loss_fn(model, x, idle):
    z, xh, p = model(x)
    resid = x - xh
    mse = mx.mean(mx.sum(resid * resid, axis=-1))
    # AuxK: idle latents only, top-k_aux of them, reconstruct the residual
    p_idle = mx.where(idle[None, :], p, -1e9)
    z_aux = mx.where(topk_mask(p_idle, K_AUX) & idle[None, :], mx.maximum(p_idle, 0.0), 0.0)
    r_aux = z_aux @ model.W_dec
    target = mx.stop_gradient(resid)
    aux = mx.mean(mx.sum((target - r_aux) ** 2, axis=-1))
    n_idle = mx.sum(idle.astype(mx.float32))
    aux = mx.where(n_idle > 0, aux / mx.maximum(mx.mean(mx.sum(target * target, axis=-1)), 1e-8), 0.0)
    return mse + AUX_W * aux, (mse, aux, z)


mx.random.seed(5)
model = TopKSAE()
x0 = sample(4096)
model.b_pre = mx.mean(x0, axis=0)  # geometric-median-ish init: data mean
mx.eval(model.parameters())

warm = optim.linear_schedule(0.0, 2e-3, 100)
decay = optim.cosine_decay(2e-3, STEPS - 100, 2e-4)
opt = optim.Adam(learning_rate=optim.join_schedules([warm, decay], [100]))
vg = nn.value_and_grad(model, lambda m, x, idle: loss_fn(m, x, idle)[0])

last_fired = np.zeros(N_LAT, dtype=np.int64)
x_val = sample(2048)
var_val = float(mx.mean(mx.sum((x_val - mx.mean(x_val, axis=0)) ** 2, axis=-1)))


def recovered(model):
    w = np.array(model.W_dec)
    cos = np.abs(atoms @ w.T)
    return int((cos.max(axis=1) > 0.9).sum())


def entry(step, fields):
    print(f"2026-11-28 * \"sae\" \"step {step}\"")
    for acct, val, unit in fields:
        print(f"  {acct:<34}{val:>14} {unit}")
    print()


print('option "title" "quarry core-scan dictionary, TopK + AuxK"')
print(f'; baseline FVU of predicting the mean: 1.0000 ; k={K}, latents={N_LAT}, true atoms={N_TRUE}')

t0 = time.time()
win = []
for step in range(1, STEPS + 1):
    x = sample(BATCH)
    idle_np = (step - last_fired) > IDLE_AFTER
    idle = mx.array(idle_np)
    (loss), grads = vg(model, x, idle)
    if step == 1:
        zero = [k for k, g in tree_flatten(grads) if float(mx.max(mx.abs(g))) == 0.0]
        print(f"; grad check: {len(tree_flatten(grads))} leaves, zero-gradient leaves: {zero or 'none'}")
        print()
    opt.update(model, grads)
    wd = model.W_dec
    model.W_dec = wd / mx.linalg.norm(wd, axis=1, keepdims=True)
    mx.eval(model.parameters(), opt.state, loss)
    z, _, _ = model(x)
    fired = np.array(mx.any(z > 0, axis=0))
    last_fired[fired] = step
    win.append(float(loss))
    if step in (1, 50) or step % 400 == 0:
        _, (mse_v, aux_v, zv) = loss_fn(model, x_val, idle)
        fvu = float(mse_v) / var_val
        l0 = float(mx.mean(mx.sum(zv > 0, axis=-1)))
        entry(step, [
            ("Objective:Window", f"{np.mean(win):.5f}", "OBJ"),
            ("Recon:ValFVU", f"{fvu:.4f}", "FVU"),
            ("Aux:Idle", f"{float(aux_v):.4f}", "REL"),
            ("Latents:Idle", f"{int(idle_np.sum())}", "LAT"),
            ("Latents:L0", f"{l0:.2f}", "LAT"),
            ("Dictionary:Recovered", f"{recovered(model)}/{N_TRUE}", "ATOM"),
            ("Schedule:LR", f"{float(opt.learning_rate):.2e}", "LR"),
            ("Clock:Wall", f"{time.time() - t0:.1f}", "SEC"),
        ])
        win = []

print(f"; closed after {STEPS} steps in {time.time() - t0:.1f}s")
