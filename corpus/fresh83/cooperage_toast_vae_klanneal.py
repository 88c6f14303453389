# Cooperage: learn a 2-d latent code of barrel-toast profiles (8 sensor readings per stave)
# with a small VAE; KL weight annealed 0 -> 1, so the printed objective first rises then falls.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_TEST, D, Z = 8000, 1500, 8, 2

def make_staves(n):
    # two hidden factors: toast level, oak grain tightness
    toast = rng.uniform(-1, 1, n)
    grain = rng.normal(0, 1, n)
    cols = [np.tanh(1.5 * toast), toast ** 2, np.sin(2 * toast) + 0.3 * grain,
            grain, 0.5 * grain * toast, np.cos(toast + 0.4 * grain),
            0.8 * toast - 0.2 * grain, np.exp(0.4 * grain) - 1.0]
    x = np.stack(cols, 1) + rng.normal(0, 0.08, (n, D))
    return x.astype(np.float32)

xtr, xte = make_staves(N_TRAIN), make_staves(N_TEST)
mu_, sd_ = xtr.mean(0), xtr.std(0)
xtr, xte = (xtr - mu_) / sd_, (xte - mu_) / sd_
Xtr, Xte = mx.array(xtr), mx.array(xte)

class StaveVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, D))

    def __call__(self, x, eps):
        h = self.enc(x)
        m, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * eps
        return self.dec(z), m, lv

def terms(model, x, eps):
    xr, m, lv = model(x, eps)
    rec = 0.5 * mx.sum((xr - x) ** 2, axis=1).mean()           # Gaussian rec, unit variance (no const)
    kl = (-0.5 * mx.sum(1 + lv - m ** 2 - mx.exp(lv), axis=1)).mean()
    return rec, kl

def objective(model, x, eps, beta):
    rec, kl = terms(model, x, eps)
    return rec + beta * kl, (rec, kl)

model = StaveVAE()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.0)
step_fn = nn.value_and_grad(model, objective)

BATCH, EPOCHS, ANNEAL = 100, 30, 1600
steps_per_epoch = N_TRAIN // BATCH

def evaluate(beta):
    eps = mx.array(np.random.default_rng(5).normal(size=(N_TEST, Z)).astype(np.float32))
    rec, kl = terms(model, Xte, eps)
    return float(rec), float(kl), float(rec + beta * kl)

r0, k0, _ = evaluate(1.0)
print(f"staves: train={N_TRAIN} test={N_TEST} dims={D} latent={Z}; anneal KL weight 0->1 over {ANNEAL} steps")
print(f"untrained: test rec={r0:.3f} kl={k0:.3f} nelbo={r0 + k0:.3f}")

t0 = time.time()
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(N_TRAIN)
    acc = np.zeros(3)
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        beta = min(1.0, step / ANNEAL)
        eps = mx.array(rng.normal(size=(BATCH, Z)).astype(np.float32))
        (loss, (rec, kl)), grads = step_fn(model, Xtr[idx], eps, mx.array(beta))
        if step == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"first step: {len(flat)} gradient leaves, all-zero leaves: {zero}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        acc += (float(loss), float(rec), float(kl))
        step += 1
    acc /= steps_per_epoch
    tr, tk, tobj = evaluate(min(1.0, step / ANNEAL))
    print(f"epoch {epoch:2d}  beta={min(1.0, step / ANNEAL):.2f}  train objective={acc[0]:.3f} "
          f"(rec {acc[1]:.3f}, kl {acc[2]:.3f})  test nelbo(beta=1)={tr + tk:.3f}  {time.time() - t0:.1f}s")

rr, kk, _ = evaluate(1.0)
print(f"done: test rec={rr:.3f} kl={kk:.3f} nelbo={rr + kk:.3f} (untrained {r0 + k0:.3f})")
