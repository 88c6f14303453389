"""Mooring buoy drift field: learn the score (gradient of log density) of buoy
positions around a harbour with sliced score matching.

Positions come from three anchorages (a known Gaussian mixture), so the exact
score is available as a reference.  The sliced score-matching objective
    E_v[ v^T J_s(x) v ] + 0.5 * |s(x)|^2
is unbounded below by design: it heads for -0.5 * E|s_true|^2, not for zero.
The run stops half way, writes a checkpoint, rebuilds everything from disk and
carries on.
"""
import math
import os
import tempfile
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)

# --- anchorages: weights, centres (hundreds of metres), covariances ---------
W = mx.array([0.5, 0.3, 0.2])
MU = mx.array([[-1.2, 0.4], [1.0, 1.1], [0.3, -1.3]])
COV = mx.array([
    [[0.30, 0.12], [0.12, 0.20]],
    [[0.15, -0.05], [-0.05, 0.25]],
    [[0.40, 0.00], [0.00, 0.08]],
])
PREC = mx.linalg.inv(COV, stream=mx.cpu)
CHOL = mx.linalg.cholesky(COV, stream=mx.cpu)
LOGDET = mx.log(COV[:, 0, 0] * COV[:, 1, 1] - COV[:, 0, 1] * COV[:, 1, 0])


def sample_buoys(n, key):
    k1, k2 = mx.random.split(key)
    comp = mx.random.categorical(mx.log(W), shape=(n,), key=k1)
    z = mx.random.normal((n, 2), key=k2)
    return MU[comp] + mx.einsum("nij,nj->ni", CHOL[comp], z)


def true_score(x):
    d = x[:, None, :] - MU[None]                       # n,k,2
    pd = mx.einsum("kij,nkj->nki", PREC, d)             # n,k,2
    logp = mx.log(W)[None] - 0.5 * LOGDET[None] - 0.5 * mx.sum(d * pd, -1)
    r = mx.softmax(logp, axis=-1)                       # responsibilities
    return -mx.sum(r[..., None] * pd, axis=1)


X_train = sample_buoys(30000, mx.random.key(10))
X_val = sample_buoys(4000, mx.random.key(11))

# single-Gaussian reference score (what a one-anchorage model would say)
g_mu = X_train.mean(axis=0)
g_cov = ((X_train - g_mu).T @ (X_train - g_mu)) / X_train.shape[0]
g_prec = mx.linalg.inv(g_cov, stream=mx.cpu)

s_val_true = true_score(X_val)
FLOOR = (-0.5 * mx.sum(s_val_true ** 2, -1).mean()).item()
ZERO_ERR = mx.sum(s_val_true ** 2, -1).mean().item()
GAUSS_ERR = mx.sum((-(X_val - g_mu) @ g_prec - s_val_true) ** 2, -1).mean().item()


class ScoreNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.l1 = nn.Linear(2, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, h)
        self.head = nn.Linear(h, 2)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        h = h + nn.silu(self.l3(h))
        return self.head(h)


def ssm_loss(model, x, v):
    s = model(x)
    jtv = mx.grad(lambda xx: mx.sum(model(xx) * v))(x)
    return mx.mean(mx.sum(jtv * v, -1) + 0.5 * mx.sum(s * s, -1))


def fisher_err(model, x, s_ref):
    return mx.sum((model(x) - s_ref) ** 2, -1).mean().item()


def val_objective(model, key):
    v = mx.random.normal(X_val.shape, key=key)
    return ssm_loss(model, X_val, v).item()


TOTAL, WARM, HALF, BATCH, PEAK = 1000, 150, 500, 256, 2e-3


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, TOTAL - WARM, 5e-5)],
        [WARM],
    )
    return optim.Adam(learning_rate=sched)


def run(model, opt, start, stop, key_base):
    step_fn = nn.value_and_grad(model, ssm_loss)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, v):
        loss, grads = step_fn(model, xb, v)
        opt.update(model, grads)
        return loss

    acc, n = 0.0, 0
    for step in range(start, stop):
        kb, kv = mx.random.split(mx.random.key(key_base + step))
        idx = mx.random.randint(0, X_train.shape[0], (BATCH,), key=kb)
        xb = X_train[idx]
        v = mx.random.normal(xb.shape, key=kv)
        loss = train_step(xb, v)
        mx.eval(state, loss)
        acc += loss.item()
        n += 1
        if (step + 1) % 100 == 0:
            lr = opt.learning_rate.item()
            print(f"step {step + 1:5d}  lr {lr:.2e}  ssm_train {acc / n:+.4f}  "
                  f"ssm_val {val_objective(model, mx.random.key(99)):+.4f}  "
                  f"fisher_err {fisher_err(model, X_val, s_val_true):.4f}")
            acc, n = 0.0, 0


print(f"reference: ssm floor (exact score) {FLOOR:+.4f} | fisher_err of zero score "
      f"{ZERO_ERR:.4f} | of one-Gaussian score {GAUSS_ERR:.4f}")

model = ScoreNet()
mx.eval(model.parameters())
opt = make_opt()
print(f"step     0  lr {0.0:.2e}  ssm_val {val_objective(model, mx.random.key(99)):+.4f}  "
      f"fisher_err {fisher_err(model, X_val, s_val_true):.4f}")

t0 = time.time()
run(model, opt, 0, HALF, 1000)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "score.safetensors")
opath = os.path.join(ckdir, "adam.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
print(f"checkpoint at step {HALF}: {len(os.listdir(ckdir))} files written")
del model, opt

model = ScoreNet()
model.load_weights(wpath)
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: optimizer step {opt.step.item()}  lr {opt.learning_rate.item():.2e}  "
      f"fisher_err {fisher_err(model, X_val, s_val_true):.4f}")
run(model, opt, HALF, TOTAL, 1000)

fe = fisher_err(model, X_val, s_val_true)
print(f"final: ssm_val {val_objective(model, mx.random.key(99)):+.4f} (floor {FLOOR:+.4f})  "
      f"fisher_err {fe:.4f} vs one-Gaussian {GAUSS_ERR:.4f} vs zero {ZERO_ERR:.4f}  "
      f"[{time.time() - t0:.1f}s]")
