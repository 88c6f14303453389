"""Chanterelle find spots in a 400 m forest plot: noise-contrastive estimation
of an unnormalised 2-D density with a learned log-normaliser.

Coordinates are in units of 400 m and centred, so the plot is a small box and
the density is larger than 1 there (log-likelihoods above zero, NLL below zero).
Training runs in two sessions: the first writes a checkpoint, the second builds
a fresh model and optimiser from it and carries on.
"""
import json
import math
import os
import shutil
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(386)
mx.random.seed(386)


def finds(n):
    """Made-up forager map: a ring round an old beech, a band along a stream."""
    kind = rng.choice(3, size=n, p=[0.45, 0.35, 0.20])
    out = np.zeros((n, 2), np.float32)
    k0 = kind == 0
    ang = rng.uniform(0, 2 * np.pi, k0.sum())
    rad = 0.16 + 0.015 * rng.standard_normal(k0.sum())
    out[k0] = np.stack([-0.12 + rad * np.cos(ang), 0.10 + rad * np.sin(ang)], 1)
    k1 = kind == 1
    t = rng.uniform(-0.35, 0.35, k1.sum())
    out[k1] = np.stack([t, -0.22 + 0.12 * np.sin(4.0 * t)
                        + 0.02 * rng.standard_normal(k1.sum())], 1)
    k2 = kind == 2
    out[k2] = np.array([0.25, 0.22]) + 0.035 * rng.standard_normal((k2.sum(), 2))
    return out.astype(np.float32)


X_train = finds(16000)
X_valid = finds(4000)

# noise distribution: one Gaussian matched to the training finds
mu = X_train.mean(0)
cov = np.cov(X_train.T) * 1.3
L = np.linalg.cholesky(cov)
cov_inv = np.linalg.inv(cov)
log_norm_q = -math.log(2 * math.pi) - 0.5 * math.log(np.linalg.det(cov))
mu_m, cinv_m = mx.array(mu), mx.array(cov_inv.astype(np.float32))


def log_q(x):
    d = x - mu_m
    return log_norm_q - 0.5 * mx.sum((d @ cinv_m) * d, axis=1)


def sample_q(n):
    z = rng.standard_normal((n, 2)).astype(np.float32)
    return mx.array(mu + z @ L.T.astype(np.float32))


class Forager(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))
        self.log_c = mx.array([0.0])  # learned log-normaliser

    def __call__(self, x):
        # log of the model density: Gaussian reference + learned correction + c
        return log_q(x) + self.net(x).squeeze(-1) + self.log_c[0]


def nce_loss(model, xd, xn):
    ld = model(xd) - log_q(xd)
    ln = model(xn) - log_q(xn)
    return 0.5 * (mx.mean(nn.softplus(-ld)) + mx.mean(nn.softplus(ln)))


def grid_log_z(model, n=160):
    """Numerical log of the integral of the model density over a wide box."""
    g = np.linspace(-0.9, 0.9, n, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    pts = mx.array(np.stack([gx.ravel(), gy.ravel()], 1))
    lp = model(pts)
    cell = (g[1] - g[0]) ** 2
    return (mx.logsumexp(lp) + math.log(cell)).item()


STEPS_PER_SESSION = 500
TOTAL = 2 * STEPS_PER_SESSION
BATCH = 128
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 100),
     optim.cosine_decay(2e-3, TOTAL - 100, 2e-5)], [100])

Xv = mx.array(X_valid)
Xv_noise = sample_q(4000)
gauss_nll = -log_q(Xv).mean().item()


def report(tag, step, model, lr, run_loss):
    v_nce = nce_loss(model, Xv, Xv_noise).item()
    ld = (model(Xv) - log_q(Xv))
    ln = (model(Xv_noise) - log_q(Xv_noise))
    acc = 0.5 * ((ld > 0).mean().item() + (ln < 0).mean().item())
    nll = -model(Xv).mean().item()
    print(f"[{tag}] step {step:5d} | lr {lr:.2e} | nce {run_loss:.4f} (valid {v_nce:.4f}) "
          f"| data-vs-noise acc {100 * acc:5.1f}% | held-out nll {nll:+.3f} nats "
          f"(gaussian {gauss_nll:+.3f}) | log-normaliser drift {grid_log_z(model):+.3f}")


def session(tag, model, opt, first, last):
    loss_and_grad = nn.value_and_grad(model, nce_loss)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xd, xn):
        loss, grads = loss_and_grad(model, xd, xn)
        opt.update(model, grads)
        return loss

    perm, cur = rng.permutation(len(X_train)), 0
    ema, t0 = 0.0, time.time()
    for s in range(first, last + 1):
        if cur + BATCH > len(perm):
            perm, cur = rng.permutation(len(X_train)), 0
        xd = mx.array(X_train[perm[cur:cur + BATCH]])
        cur += BATCH
        xn = sample_q(BATCH)
        lr_now = schedule(opt.state["step"]).item()
        loss = step(xd, xn)
        mx.eval(loss, model.state, opt.state)
        ema = 0.95 * ema + 0.05 * loss.item()
        shown = ema / (1 - 0.95 ** (s - first + 1))
        if s == first or s % 100 == 0:
            report(tag, s, model, lr_now, shown)
    print(f"[{tag}] {last - first + 1} steps in {time.time() - t0:.1f}s")


print(f"finds: {len(X_train)} train / {len(X_valid)} held-out, plot box "
      f"{X_train.min():.2f}..{X_train.max():.2f} (x400 m)")
print(f"reference single-Gaussian held-out nll {gauss_nll:+.3f} nats")

model = Forager()
opt = optim.Lion(learning_rate=schedule, weight_decay=1e-4)
mx.eval(model.parameters())
g = nn.value_and_grad(model, nce_loss)(model, mx.array(X_train[:256]), sample_q(256))[1]
leaves = tree_flatten(g)
print(f"grad check: {sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)}/{len(leaves)} "
      f"arrays with non-zero gradient, untrained nll {-model(Xv).mean().item():+.3f}")

ckpt = tempfile.mkdtemp(prefix="chanterelle_")
session("session 1", model, opt, 1, STEPS_PER_SESSION)
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"step": STEPS_PER_SESSION}, f)
print(f"checkpoint written ({sorted(os.listdir(ckpt))})")

del model, opt
model = Forager()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = optim.Lion(learning_rate=schedule, weight_decay=1e-4)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
meta = json.load(open(os.path.join(ckpt, "meta.json")))
mx.eval(model.parameters(), opt.state)
print(f"resumed at step {meta['step']} (optimizer step {opt.state['step'].item()}), "
      f"held-out nll {-model(Xv).mean().item():+.3f}")
session("session 2", model, opt, meta["step"] + 1, TOTAL)

final_nll = -model(Xv).mean().item()
log_z = grid_log_z(model)
print(f"done: held-out nll {final_nll:+.3f} nats vs gaussian {gauss_nll:+.3f} "
      f"(gain {gauss_nll - final_nll:.3f}); self-normalised nll {final_nll + log_z:+.3f}; "
      f"learned log c {model.log_c.item():+.3f}")
shutil.rmtree(ckpt, ignore_errors=True)
