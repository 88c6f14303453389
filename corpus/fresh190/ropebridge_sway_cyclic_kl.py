# Rope-bridge deck sway spectra: a small beta-VAE trained with CYCLICAL KL annealing.
# Each cycle beta ramps 0 -> 1 over the first half, then stays at 1; the total loss
# therefore climbs at the start of every ramp even though the model keeps improving.
from functools import partial
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_BINS, N = 20, 2400
freqs = np.linspace(0.2, 4.0, N_BINS)

def make_spectra(n):
    wind = rng.uniform(0, 1, n)        # m/s-ish, normalised
    walkers = rng.uniform(0, 1, n)     # crowd load
    tension = rng.uniform(0, 1, n)     # cable tension
    f0 = 0.6 + 1.8 * tension            # first lateral mode (Hz)
    amp = 0.4 + 1.2 * walkers
    spec = amp[:, None] * np.exp(-((freqs[None] - f0[:, None]) ** 2) / 0.08)
    spec += wind[:, None] * 0.5 * np.exp(-freqs[None] / 1.5)
    spec += 0.3 * walkers[:, None] * np.exp(-((freqs[None] - 2 * f0[:, None]) ** 2) / 0.12)
    spec += rng.normal(0, 0.03, spec.shape)
    return np.log1p(np.clip(spec, 0, None)).astype(np.float32)

X = make_spectra(N)
mu_, sd_ = X.mean(0), X.std(0) + 1e-6
X = (X - mu_) / sd_
Xtr, Xva = mx.array(X[:2000]), mx.array(X[2000:])

class SwayVAE(nn.Module):
    def __init__(self, d=N_BINS, h=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, lv = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, lv

def parts(model, x, key):
    xh, mu, lv = model(x, key)
    rec = mx.sum((xh - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()
    return rec, kl

def loss_fn(model, x, key, beta):
    rec, kl = parts(model, x, key)
    return rec + beta * kl, (rec, kl)

mx.random.seed(3)
model = SwayVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)
state = [model.state, opt.state, mx.random.state]
vg = nn.value_and_grad(model, loss_fn)

@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    key = mx.random.key(0) + mx.random.randint(0, 2**31 - 1, (), dtype=mx.uint32)
    (loss, (rec, kl)), g = vg(model, x, key, beta)
    opt.update(model, g)
    return loss, rec, kl

# gradient reach check on one batch before training
(_, _), g0 = vg(model, Xtr[:64], mx.random.key(1), mx.array(1.0))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(f"grad-check: {len(tree_flatten(g0))} tensors, zero-grad tensors = {zero}")

baseline_rec = float(mx.sum((Xva - Xtr.mean(0)) ** 2, axis=1).mean())
CYCLES, STEPS_PER_CYCLE, BS = 4, 250, 64
print(f"{'cyc':>3} {'step':>5} {'beta':>5} | {'loss':>8} {'recon':>8} {'KL':>7} | {'val_rec':>8} {'mean-pred':>9}")
print("-" * 66)
gstep = 0
perm_key = np.random.default_rng(11)
for c in range(CYCLES):
    for s in range(STEPS_PER_CYCLE):
        frac = s / (STEPS_PER_CYCLE / 2)
        beta = min(1.0, frac)
        idx = mx.array(perm_key.integers(0, Xtr.shape[0], BS))
        loss, rec, kl = step(Xtr[idx], mx.array(beta, dtype=mx.float32))
        mx.eval(loss, rec, kl, state)
        gstep += 1
        if s % 50 == 0 or s == STEPS_PER_CYCLE - 1:
            vr, vk = parts(model, Xva, mx.random.key(99))
            print(f"{c:>3} {s:>5} {beta:5.2f} | {loss.item():8.3f} {rec.item():8.3f} {kl.item():7.3f} | "
                  f"{vr.item():8.3f} {baseline_rec:9.3f}")
    print("-" * 66)

vr, vk = parts(model, Xva, mx.random.key(5))
print(f"final: val recon {vr.item():.3f} (mean-pred {baseline_rec:.3f}), val KL {vk.item():.3f} nats, "
      f"ratio {vr.item() / baseline_rec * 100:.1f}% of baseline")
