"""Cheese-rolling hill race: learn runner strengths from finishing orders.

Plackett-Luce likelihood of full finishing orders of 8-runner heats, scores from a
small SiLU MLP over 6 runner features. Two sessions with a checkpoint in between.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_RUNNERS, N_FEAT, HEAT = 400, 6, 8

feats = rng.normal(size=(N_RUNNERS, N_FEAT)).astype(np.float32)
true_w = np.array([1.2, -0.8, 0.6, 0.0, 0.4, -0.3], dtype=np.float32)
true_strength = 2.0 * np.tanh(feats @ true_w) + 0.5 * feats[:, 0] * feats[:, 2]


def make_heats(n):
    ids = np.stack([rng.choice(N_RUNNERS, HEAT, replace=False) for _ in range(n)])
    # Gumbel-perturbed strengths give Plackett-Luce finishing orders
    g = true_strength[ids] + rng.gumbel(size=ids.shape)
    order = np.argsort(-g, axis=1)
    return np.take_along_axis(ids, order, axis=1).astype(np.int32)


train_heats = make_heats(6000)
val_heats = make_heats(1000)
X = mx.array(feats)


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def pl_nll(scores):
    # scores are in finishing order; position k competes against everyone at or after k
    rev = scores[:, ::-1]
    tail_lse = mx.logcumsumexp(rev, axis=1)[:, ::-1]
    return mx.mean(mx.sum(tail_lse - scores, axis=1))


def loss_fn(model, heats):
    s = model(X)
    return pl_nll(s[heats])


def kendall_tau(a, b):
    n = len(a)
    i, j = np.triu_indices(n, 1)
    return float(np.mean(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])))


def evaluate(model):
    s = model(X)
    v = pl_nll(s[mx.array(val_heats)]).item()
    return v, kendall_tau(np.array(s), true_strength)


oracle_nll = pl_nll(mx.array(true_strength)[mx.array(val_heats)]).item()
random_nll = math.log(math.factorial(HEAT))

TOTAL_STEPS, WARM, BATCH = 1200, 100, 128
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL_STEPS - WARM, 1e-5)],
    [WARM],
)


def build():
    mx.random.seed(3)
    m = Scorer()
    o = optim.Adam(learning_rate=schedule)
    return m, o


def run(model, opt, start, stop, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    idx_rng = np.random.default_rng(100 + start)
    t0 = time.time()
    acc, n = 0.0, 0
    for step in range(start + 1, stop + 1):
        b = mx.array(train_heats[idx_rng.integers(0, len(train_heats), BATCH)])
        lr_now = float(schedule(opt.step)) if not isinstance(opt.step, int) else None
        loss, grads = step_fn(model, b)
        if step == 1:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
            print(f"[{tag}] step 1 lr {lr_now:.2e}  grad leaves nonzero {nz}/{len(flat)}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        n += 1
        if step % 150 == 0:
            v, tau = evaluate(model)
            print(f"[{tag}] step {step:5d}  train_nll/heat {acc / n:.4f}  val_nll/heat {v:.4f}"
                  f"  (oracle {oracle_nll:.4f}, random {random_nll:.4f})  tau {tau:+.3f}"
                  f"  lr {float(schedule(opt.step)):.2e}  {time.time() - t0:.1f}s")
            acc, n = 0.0, 0


print(f"runners {N_RUNNERS}  heats train {len(train_heats)} val {len(val_heats)}  heat size {HEAT}")
model, opt = build()
v0, tau0 = evaluate(model)
print(f"[untrained] val_nll/heat {v0:.4f}  tau {tau0:+.3f}")

ckdir = tempfile.mkdtemp()
run(model, opt, 0, 600, "session-1")
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
ref_val, _ = evaluate(model)
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": 600, "val": ref_val}, f)
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
meta = json.load(open(os.path.join(ckdir, "meta.json")))
rv, _ = evaluate(model)
print(f"[resume] from step {meta['step']}  val_nll/heat {rv:.4f} (saved {meta['val']:.4f})  opt step {int(opt.step.item())}")
run(model, opt, meta["step"], TOTAL_STEPS, "session-2")
v, tau = evaluate(model)
print(f"[done] val_nll/heat {v:.4f}  gap to oracle {v - oracle_nll:+.4f}  tau {tau:+.3f}")
