# Computational colour constancy: estimate the scene illuminant colour from a
# raw-ish RGB "image" (a bag of 400 pixels), so that a camera can white-balance.
# Features: 8x8 log-chroma histogram (u=log(g/r), v=log(g/b)) + gray-world and
# max-RGB chroma. Target: unit-norm illuminant RGB. Loss: 1 - cos(angle).
# Logs are logfmt lines so they can be grepped by the lab's dashboard.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
EDGES = np.linspace(-1.6, 1.6, 9)


def illuminant(n):
    temp = rng.uniform(0, 1, n)                     # warm (0) .. cool (1)
    r = 1.0 + 0.9 * (1 - temp)
    b = 0.45 + 1.1 * temp
    g = 1.0 + rng.normal(0, 0.06, n)                # green/magenta tint
    L = np.stack([r, g, b], 1)
    return L / np.linalg.norm(L, axis=1, keepdims=True)


def scenes(n):
    L = illuminant(n)
    feats = np.zeros((n, 64 + 6), np.float32)
    for i in range(n):
        k = rng.integers(6, 25)                      # number of distinct surfaces
        bias = rng.dirichlet([2, 2, 2]) * 0.6 + 0.2  # scene colour bias (breaks gray-world)
        surf = np.clip(rng.beta(2, 2, (k, 3)) * bias * 1.6, 0.03, 1)
        pix = surf[rng.integers(0, k, 400)] * L[i] * rng.uniform(0.3, 1.0, (400, 1))
        pix = np.clip(pix + rng.normal(0, 0.004, pix.shape), 1e-3, None)
        u = np.log(pix[:, 1] / pix[:, 0])
        v = np.log(pix[:, 1] / pix[:, 2])
        h, _, _ = np.histogram2d(u, v, bins=[EDGES, EDGES])
        feats[i, :64] = np.sqrt(h.ravel() / 400.0)
        gw = pix.mean(0); gw /= np.linalg.norm(gw)
        mr = pix.max(0); mr /= np.linalg.norm(mr)
        feats[i, 64:] = np.concatenate([gw, mr])
    return feats, L.astype(np.float32)


def ang_deg(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(1), -1, 1)))


t0 = time.time()
Xtr, Ltr = scenes(8000)
Xte, Lte = scenes(500)
gray_world_err = ang_deg(Xte[:, 64:67], Lte)


def logfmt(**kv):
    parts = [f"t={time.time() - t0:.2f}s"]
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, str) and " " in v:
            v = f'"{v}"'
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


class Estimator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(70, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 3)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h)) + h
        return nn.softplus(self.out(h)) + 1e-3       # positive RGB, scale-free


def angular_loss(model, x, L):
    p = model(x)
    cos = (p * L).sum(-1) / (mx.sqrt((p * p).sum(-1)) + 1e-8)
    return (1.0 - cos).mean()


model = Estimator()
mx.eval(model.parameters())
sched = optim.join_schedules(
    [optim.linear_schedule(1e-4, 2e-3, 100), optim.exponential_decay(2e-3, 0.9992)], [100])
opt = optim.AdamW(learning_rate=sched, betas=[0.9, 0.99], weight_decay=0.02)
loss_and_grad = nn.value_and_grad(model, angular_loss)

X, L = mx.array(Xtr), mx.array(Ltr)
_, g0 = loss_and_grad(model, X[:96], L[:96])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
logfmt(lvl="info", msg="grad check", leaves=len(leaves), zero_grad_leaves=len(zero))
logfmt(lvl="info", msg="baseline", method="gray-world",
       median_deg=float(np.median(gray_world_err)), mean_deg=float(gray_world_err.mean()))

step = 0
for epoch in range(1, 13):
    perm = rng.permutation(len(Xtr))
    run = 0.0
    for i in range(0, len(perm) - 95, 96):
        idx = mx.array(perm[i:i + 96])
        loss, g = loss_and_grad(model, X[idx], L[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    if epoch == 1 or epoch % 2 == 0:
        err = ang_deg(np.array(model(mx.array(Xte))), Lte)
        logfmt(lvl="info", msg="epoch end", epoch=epoch, step=step,
               train_1mcos=run / (len(perm) // 96), lr=float(opt.learning_rate.item()),
               test_median_deg=float(np.median(err)), test_mean_deg=float(err.mean()),
               test_worst25_deg=float(np.mean(np.sort(err)[-len(err) // 4:])))
err = ang_deg(np.array(model(mx.array(Xte))), Lte)
logfmt(lvl="info", msg="done", median_deg=float(np.median(err)),
       gray_world_median_deg=float(np.median(gray_world_err)))
