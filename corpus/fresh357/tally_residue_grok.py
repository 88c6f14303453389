"""Multiplication table of the units mod 31, learned from 60% of its cells.

A small embedding MLP memorises the seen cells quickly; AdamW's decay then
slowly pulls it toward the rule that also fills the unseen cells. Training
runs as two sessions: the first saves weights and optimizer state, the second
rebuilds everything from disk and continues.
"""
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

P = 31
N = P - 1                     # units 1..30, stored as 0..29
TRAIN_FRAC = 0.6
PEAK_LR = 3e-3
WARM = 100
WD = 2.0
SESSION_STEPS = (1000, 2000)  # session 1 stops at 1000, session 2 at 2000

rng = np.random.default_rng(7)
cells = np.array([(i, j) for i in range(N) for j in range(N)], dtype=np.int32)
prod = np.array([((i + 1) * (j + 1)) % P - 1 for i, j in cells], dtype=np.int32)
perm = rng.permutation(len(cells))
n_fit = int(TRAIN_FRAC * len(cells))
X_fit, Y_fit = mx.array(cells[perm[:n_fit]]), mx.array(prod[perm[:n_fit]])
X_held, Y_held = mx.array(cells[perm[n_fit:]]), mx.array(prod[perm[n_fit:]])


class TableNet(nn.Module):
    def __init__(self, n, d=32, h=128):
        super().__init__()
        self.emb = nn.Embedding(n, d)
        self.hidden = nn.Linear(2 * d, h)
        self.out = nn.Linear(h, n)

    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        return self.out(nn.relu(self.hidden(e)))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def build(seed):
    mx.random.seed(seed)
    model = TableNet(N)
    mx.eval(model.parameters())
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM), lambda s: mx.array(PEAK_LR)], [WARM]
    )
    opt = optim.AdamW(learning_rate=lr, betas=[0.9, 0.98], weight_decay=WD)
    opt.init(model.trainable_parameters())
    return model, opt


def compiled_step(model, opt):
    # built only once the optimizer state object is final (after any restore)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, xent)(model, x, y)
        opt.update(model, grads)
        return loss

    return state, step


def measure(model, x, y):
    logits = model(x)
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean()
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    return loss.item(), 100.0 * acc.item()


def norm(model):
    return sum((v * v).sum().item() for _, v in tree_flatten(model.parameters())) ** 0.5


fib = [1, 2]
while fib[-1] < SESSION_STEPS[-1]:
    fib.append(fib[-1] + fib[-2])
report_at = set(fib) | {SESSION_STEPS[0], SESSION_STEPS[1]}

print(f"cells {N}x{N}={N*N}: fit {n_fit}, held {N*N-n_fit}; chance 100/{N}={100/N:.1f}%, "
      f"uniform xent ln{N}={np.log(N):.3f}")
print(f"AdamW peak lr {PEAK_LR}, warm-up from 0 over {WARM} steps, decay {WD}; reports at Fibonacci steps")


def run(model, opt, state, step, start, stop, t0):
    first = {k: v for k, v in tree_flatten(model.parameters())} if start == 0 else None
    for it in range(start + 1, stop + 1):
        loss = step(X_fit, Y_fit)
        mx.eval(state)
        if first is not None:
            moved = max(mx.abs(v - first[k]).max().item() for k, v in tree_flatten(model.parameters()))
            print(f"  step 1 lr={opt.learning_rate.item():.1e}  max |change| of any weight = {moved:.3g}")
            first = None
        if it in report_at:
            fl, fa = measure(model, X_fit, Y_fit)
            hl, ha = measure(model, X_held, Y_held)
            print(f"[{it:5d}] fit {fl:8.5f} {fa:6.1f}% | held {hl:7.3f} {ha:6.1f}% | "
                  f"|w| {norm(model):5.1f} | lr {opt.learning_rate.item():.2e} | {time.time()-t0:5.1f}s")


t0 = time.time()
with tempfile.TemporaryDirectory() as tmp:
    print("-- session 1")
    model, opt = build(seed=11)
    state, step = compiled_step(model, opt)
    run(model, opt, state, step, 0, SESSION_STEPS[0], t0)
    model.save_weights(os.path.join(tmp, "table.safetensors"))
    mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
    ref = measure(model, X_held, Y_held)
    del model, opt, state, step

    print("-- session 2 (rebuilt from disk)")
    model, opt = build(seed=99)
    model.load_weights(os.path.join(tmp, "table.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    state, step = compiled_step(model, opt)
    again = measure(model, X_held, Y_held)
    print(f"  restored: optimizer step {opt.step.item()}, held xent {again[0]:.4f} (saved {ref[0]:.4f})")
    run(model, opt, state, step, SESSION_STEPS[0], SESSION_STEPS[1], t0)

hl, ha = measure(model, X_held, Y_held)
print(f"done: held-out cells right {ha:.1f}% (chance {100/N:.1f}%), held xent {hl:.4f}, {time.time()-t0:.1f}s")
