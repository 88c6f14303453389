"""Vinery: predict grape sugar (deg Brix) at picking from glasshouse readings.

Two stages with an offload in between: after stage 1 the weights and the Adam
moments are written to disk, the model and optimizer are deleted and the cache
cleared, then both are rebuilt, reloaded and stage 2 resumes with a warm restart
of the learning rate. The loss is a Gaussian negative log-likelihood with a
learned log-variance head, so it goes below zero once the fit is tight.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
D, N_TRAIN, N_VAL = 7, 4000, 1000
NOISE = 0.1


def make_rows(n):
    x = rng.uniform(-1.0, 1.0, size=(n, D)).astype(np.float32)
    sun, temp, water, leaf, crop, night, vent = x.T
    y = (1.2 * sun + 0.8 * np.tanh(2.0 * temp) - 0.6 * water * (1.0 + 0.5 * crop)
         + 0.4 * leaf * sun - 0.5 * crop + 0.3 * np.cos(2.5 * night) + 0.2 * vent ** 2)
    scale = NOISE * (1.0 + 0.8 * (water > 0.3))
    y = y + scale * rng.standard_normal(n)
    return x, y.astype(np.float32)


xtr, ytr = make_rows(N_TRAIN)
xva, yva = make_rows(N_VAL)
mu, sd = ytr.mean(), ytr.std()
Xtr, Ytr = mx.array(xtr), mx.array((ytr - mu) / sd)
Xva, Yva = mx.array(xva), mx.array((yva - mu) / sd)


class BrixNet(nn.Module):
    def __init__(self, d_in, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.mean = nn.Linear(h, 1)
        self.logvar = nn.Linear(h, 1)

    def __call__(self, x):
        z = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.mean(z).squeeze(-1), self.logvar(z).squeeze(-1)


def nll(m, x, y):
    mean, logvar = m(x)
    return mx.mean(0.5 * (logvar + (y - mean) ** 2 * mx.exp(-logvar)))


def evaluate(m):
    mean, logvar = m(Xva)
    v_nll = nll(m, Xva, Yva).item()
    rmse = math.sqrt(mx.mean((mean - Yva) ** 2).item()) * sd
    return v_nll, rmse


def sched(base, steps):
    return optim.cosine_decay(base, steps, end=base * 0.02)


def train(m, opt, steps, tag, start=0):
    step_fn = nn.value_and_grad(m, nll)
    for s in range(steps):
        idx = mx.array(rng.integers(0, N_TRAIN, size=64))
        loss, g = step_fn(m, Xtr[idx], Ytr[idx])
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state, loss)
        if (s + 1) % 100 == 0:
            v_nll, rmse = evaluate(m)
            print(f"[{tag}] step {start + s + 1:4d} lr {opt.learning_rate.item():.2e} "
                  f"train nll {loss.item():+.4f} val nll {v_nll:+.4f} val rmse {rmse:.3f} Brix")


t0 = time.time()
base_rmse = float(np.sqrt(((yva - mu) ** 2).mean()))
print(f"baseline rmse (predict mean) {base_rmse:.3f} Brix, noise ~{NOISE:.2f}-{NOISE * 1.8:.2f}")

mx.random.seed(5)
model = BrixNet(D)
S1, S2 = 700, 500
opt = optim.Adam(learning_rate=sched(3e-3, S1))
train(model, opt, S1, "stage1")

ckdir = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckdir, "w.safetensors"), dict(tree_flatten(model.parameters())))
opt_flat = {k: v for k, v in tree_flatten(opt.state) if isinstance(v, mx.array)}
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), opt_flat)
ref_nll, ref_rmse = evaluate(model)
print(f"offloaded {len(opt_flat)} optimizer arrays to disk; before offload val nll {ref_nll:+.4f}")
del model, opt
mx.clear_cache()
print(f"after release: active {mx.get_active_memory() / 2**20:.2f}MB cache {mx.get_cache_memory() / 2**20:.2f}MB")

model = BrixNet(D)
model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt = optim.Adam(learning_rate=sched(1.5e-3, S2))
opt.init(model.trainable_parameters())
saved = mx.load(os.path.join(ckdir, "opt.safetensors"))
state = dict(tree_flatten(opt.state))
state.update({k: v for k, v in saved.items() if k != "step" and k != "learning_rate"})
opt.state = tree_unflatten(list(state.items()))
opt.state["learning_rate"] = mx.array(1.5e-3)
mx.eval(model.parameters(), opt.state)
re_nll, _ = evaluate(model)
print(f"reloaded: val nll {re_nll:+.4f} (match {abs(re_nll - ref_nll) < 1e-5})")
train(model, opt, S2, "stage2", start=S1)

v_nll, rmse = evaluate(model)
print(f"final val nll {v_nll:+.4f} val rmse {rmse:.3f} Brix (baseline {base_rmse:.3f})  {time.time() - t0:.1f}s")
