"""Sheepdog trial recordings: which of 6 whistle commands (come-bye, away, walk-up,
lie-down, that'll-do, steady) from 12 pitch-contour features of the whistle.

Softmax cross-entropy plus a centre loss (Wen et al. 2016) on an 8-d embedding.
The centre-loss weight lam is 0 for 400 steps, rises 0 -> 1.0 along a half-cosine by
step 1400 and is then held; the class centres are running averages moved outside the gradient.
Halfway through, the run is written to disk and resumed into fresh model and optimizer objects.
"""
import math
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(23)
K, F, E = 6, 12, 8
proto = rng.normal(0, 1, (K, 4))
lift = rng.normal(0, 1, (4, F))


def whistles(n):
    c = rng.integers(0, K, n)
    handler = rng.normal(0, 0.5, (n, 4))                  # each handler whistles a bit differently
    z = proto[c] + handler
    x = np.sin(z @ lift * 0.7) + 0.25 * (z @ lift) + rng.normal(0, 0.3, (n, F))
    return x.astype(np.float32), c.astype(np.int32)


xtr, ytr = whistles(9000)
xte, yte = whistles(2000)
m, s = xtr.mean(0), xtr.std(0)
XTR, YTR = mx.array((xtr - m) / s), mx.array(ytr)
XTE, YTE = mx.array((xte - m) / s), mx.array(yte)


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(F, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, E))
        self.cls = nn.Linear(E, K)

    def __call__(self, x):
        f = self.trunk(x)
        return f, self.cls(f)


def loss_fn(model, x, y, centres, lam):
    f, logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    pull = 0.5 * ((f - centres[y]) ** 2).sum(axis=1).mean()
    return ce + lam * pull, (ce, pull, f)


def lam_at(t):
    if t <= 400:
        return 0.0
    return 1.0 * 0.5 * (1 - math.cos(math.pi * min(t - 400, 1000) / 1000))


def centre_update(centres, f, y, rate=0.3):
    onehot = (y[:, None] == mx.arange(K)[None, :]).astype(mx.float32)
    cnt = onehot.sum(axis=0)
    mean_f = (onehot.T @ f) / mx.maximum(cnt, 1)[:, None]
    move = mx.where((cnt > 0)[:, None], centres - mean_f, 0.0)
    return centres - rate * move


def evaluate(model, centres):
    f, logits = model(XTE)
    acc = (mx.argmax(logits, 1) == YTE).astype(mx.float32).mean().item() * 100
    d = ((f[:, None, :] - centres[None]) ** 2).sum(-1)
    nc = (mx.argmin(d, 1) == YTE).astype(mx.float32).mean().item() * 100
    spread = mx.sqrt(((f - centres[YTE]) ** 2).sum(1)).mean().item()
    return acc, nc, spread


def build(seed):
    mx.random.seed(seed)
    model = Embedder()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 200), optim.cosine_decay(2e-3, 2800, 2e-4)], [200])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def emit(**kv):
    sys.stdout.write("\t".join(f"{k}:{v}" for k, v in kv.items()) + "\n")
    sys.stdout.flush()


def run(model, opt, centres, t_from, t_to, ckpt_dir, t0):
    vg = nn.value_and_grad(model, loss_fn)
    buf = []
    for t in range(t_from, t_to + 1):
        lam = lam_at(t)
        idx = mx.array(rng.integers(0, XTR.shape[0], 128))
        x, y = XTR[idx], YTR[idx]
        (tot, (ce, pull, f)), g = vg(model, x, y, centres, mx.array(lam))
        opt.update(model, g)
        centres = centre_update(centres, mx.stop_gradient(f), y)
        mx.eval(model.parameters(), opt.state, centres, tot, ce, pull)
        buf.append((tot.item(), ce.item(), pull.item()))
        if t % 200 == 0:
            b = np.array(buf[-200:])
            acc, nc, spread = evaluate(model, centres)
            emit(step=t, lam=f"{lam:.3f}", total=f"{b[:,0].mean():.4f}", ce=f"{b[:,1].mean():.4f}",
                 centre=f"{b[:,2].mean():.4f}", acc_pct=f"{acc:.1f}", nearest_centre_pct=f"{nc:.1f}",
                 spread=f"{spread:.3f}", sec=f"{time.time()-t0:.1f}")
    return centres


TOTAL, SAVE_AT = 3000, 1500
model, opt = build(4)
mx.eval(model.parameters())
centres = mx.zeros((K, E))
(_, _), g0 = nn.value_and_grad(model, loss_fn)(model, XTR[:128], YTR[:128], centres, mx.array(0.0))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
emit(event="grad_check", leaves=len(tree_flatten(g0)), zero=",".join(zero) or "none",
     note="lr is 0 at step 1 (warm-up from 0)")
emit(event="data", train=len(ytr), test=len(yte), chance_pct=f"{100 / K:.1f}",
     majority_pct=f"{np.bincount(yte).max() / len(yte) * 100:.1f}")

t0 = time.time()
with tempfile.TemporaryDirectory() as ckpt:
    centres = run(model, opt, centres, 1, SAVE_AT, ckpt, t0)
    model.save_weights(os.path.join(ckpt, "w.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    mx.save(os.path.join(ckpt, "centres.npy"), centres)
    emit(event="saved", step=SAVE_AT)

    model, opt = build(99)                      # fresh objects, then restore everything
    model.load_weights(os.path.join(ckpt, "w.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    centres = mx.load(os.path.join(ckpt, "centres.npy"))
    mx.eval(model.parameters(), opt.state)
    emit(event="resumed", step=int(opt.step.item()), lr=f"{opt.learning_rate.item():.2e}")
    centres = run(model, opt, centres, SAVE_AT + 1, TOTAL, ckpt, t0)

acc, nc, spread = evaluate(model, centres)
emit(event="done", acc_pct=f"{acc:.1f}", nearest_centre_pct=f"{nc:.1f}", spread=f"{spread:.3f}",
     chance_pct=f"{100 / K:.1f}")
