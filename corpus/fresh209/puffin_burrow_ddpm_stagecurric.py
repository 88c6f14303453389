"""DDPM (epsilon prediction) over puffin burrow positions on a sea-cliff island.

Burrows sit in three colonies strung along a curved cliff top (x/y in 100 m).
Stage 1 only trains the noisy half of the chain (t >= T/2, easy), stage 2 opens the
full range (harder, loss jumps up). Compiled train step carries the RNG state.
Early stopping on a fixed-noise held-out loss, best weights restored at the end.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [burrows] %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ddpm")

rng = np.random.default_rng(2090)


def make_burrows(n):
    centres = np.array([0.15, 0.5, 0.85])
    weights = np.array([0.45, 0.2, 0.35])
    c = rng.choice(3, size=n, p=weights)
    s = centres[c] + rng.normal(0, 0.05, n)
    x = 4.0 * s - 2.0
    y = 1.2 * np.sin(3.0 * s) - 0.6 + rng.normal(0, 0.07, n)
    return np.stack([x, y], 1).astype(np.float32)


train_np = make_burrows(8000)
val_np = make_burrows(1000)
train = mx.array(train_np)
val = mx.array(val_np)

T = 100
betas = np.linspace(1e-4, 0.05, T).astype(np.float32)
abar = mx.array(np.cumprod(1.0 - betas))
alphas = mx.array(1.0 - betas)
betas_mx = mx.array(betas)


class EpsNet(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.t_emb = nn.Embedding(T, 32)
        self.inp = nn.Linear(2, hidden)
        self.tproj = nn.Linear(32, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, x, t):
        h = nn.silu(self.inp(x) + self.tproj(self.t_emb(t)))
        h = nn.silu(self.h1(h)) + h
        h = nn.silu(self.h2(h)) + h
        return self.out(h)


mx.random.seed(2090)
model = EpsNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def eps_loss(m, x0, t, noise):
    ab = abar[t][:, None]
    xt = mx.sqrt(ab) * x0 + mx.sqrt(1.0 - ab) * noise
    return mx.mean(mx.square(m(xt, t) - noise))


loss_and_grad = nn.value_and_grad(model, eps_loss)
state = [model.state, opt.state, mx.random.state]


def _train_step(t_low):
    idx = mx.random.randint(0, train.shape[0], (128,))
    x0 = train[idx]
    t = mx.random.randint(t_low, T, (128,))
    noise = mx.random.normal(x0.shape)
    loss, grads = loss_and_grad(model, x0, t, noise)
    opt.update(model, grads)
    return loss


train_step = mx.compile(_train_step, inputs=state, outputs=state)

vkey = mx.random.key(7)
k1, k2 = mx.random.split(vkey)
val_t = mx.random.randint(0, T, (val.shape[0],), key=k1)
val_noise = mx.random.normal(val.shape, key=k2)


def held_out():
    return eps_loss(model, val, val_t, val_noise)


def sample(n, seed):
    key = mx.random.key(seed)
    key, sub = mx.random.split(key)
    x = mx.random.normal((n, 2), key=sub)
    for i in reversed(range(T)):
        t = mx.full((n,), i, dtype=mx.int32)
        eps = model(x, t)
        x = (x - betas_mx[i] / mx.sqrt(1.0 - abar[i]) * eps) / mx.sqrt(alphas[i])
        if i > 0:
            key, sub = mx.random.split(key)
            x = x + mx.sqrt(betas_mx[i]) * mx.random.normal((n, 2), key=sub)
    mx.eval(x)
    return np.asarray(x)


def colony_gap(xs):
    """share of samples falling in the empty cliff stretches between colonies"""
    s = (xs[:, 0] + 2.0) / 4.0
    return float(np.mean(((s > 0.27) & (s < 0.38)) | ((s > 0.62) & (s < 0.73))))


def cliff_offset(xs):
    s = (xs[:, 0] + 2.0) / 4.0
    return float(np.mean(np.abs(xs[:, 1] - (1.2 * np.sin(3.0 * s) - 0.6))))


log.info("burrows: %d train / %d held-out, gap share in data %.3f, cliff offset in data %.3f",
         len(train_np), len(val_np), colony_gap(val_np), cliff_offset(val_np))
noise_np = rng.normal(size=(1000, 2)).astype(np.float32)
log.info("reference (pure noise): gap share %.3f, cliff offset %.3f", colony_gap(noise_np), cliff_offset(noise_np))

STAGES = [("stage-1 noisy half", T // 2, 400), ("stage-2 full chain", 0, 1000)]
PATIENCE = 4
best_val, best_params, best_at = float("inf"), None, None
t0 = time.time()
gstep = 0
for name, t_low, steps in STAGES:
    log.info("%s: t in [%d, %d), %d steps", name, t_low, T, steps)
    bad = 0
    run = 0.0
    for s in range(1, steps + 1):
        loss = train_step(mx.array(t_low))
        mx.eval(state, loss)
        run += loss.item()
        gstep += 1
        if s % 200 == 0:
            v = held_out().item()
            better = v < best_val - 1e-4
            if better and t_low == 0:
                best_val, best_at = v, gstep
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
                mx.eval(best_params)
                bad = 0
            elif t_low == 0:
                bad += 1
            log.info("%s step %4d | train eps-mse %.4f | held-out eps-mse (all t) %.4f | best %.4f | patience %d/%d",
                     name, s, run / 200, v, best_val, bad, PATIENCE)
            run = 0.0
            if bad >= PATIENCE:
                log.info("early stop in %s at step %d", name, s)
                break

log.info("restoring best weights from global step %d (held-out %.4f)", best_at, best_val)
model.update(best_params)
mx.eval(model.parameters())
xs = sample(1000, seed=11)
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
log.info("samples: gap share %.3f (data %.3f, noise %.3f) | cliff offset %.3f (data %.3f, noise %.3f)",
         colony_gap(xs), colony_gap(val_np), colony_gap(noise_np),
         cliff_offset(xs), cliff_offset(val_np), cliff_offset(noise_np))
log.info("done: %d params, %d steps, %.1fs", nparams, gstep, time.time() - t0)
