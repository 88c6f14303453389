"""Glass kiln annealing: residual stress (nm/cm birefringence) from a firing record.

A dense model fitted on the old kiln is kept frozen; a new kiln is matched by a
low-rank adapter on the first layer.  The adapter starts at rank 2 and is grown
to rank 6 half way (new rows random, new columns zero, so the function is
unchanged at the switch).  Gradients are accumulated over 4 micro-batches.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)-5s kiln | %(message)s")
log = logging.getLogger("kiln")

rng = np.random.default_rng(5)
mx.random.seed(5)
D, H = 10, 48
NOISE = 0.08

Wt = rng.normal(size=(D, 24)) / np.sqrt(D)
vt = rng.normal(size=24) / 5.0
shift = (rng.normal(size=(D, 6)) @ rng.normal(size=(6, 24))) / np.sqrt(6 * D) * 0.9


def law(x, extra):
    return np.tanh(x @ (Wt + extra)) @ vt


def make(n, extra):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = law(x, extra) + NOISE * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


old_tr = make(8000, 0.0)
old_va = make(2000, 0.0)
(new_x, new_y) = make(3000, shift)
(nv_x, nv_y) = make(2000, shift)


class Grown(nn.Module):
    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        dout, din = base.weight.shape
        self.base = base
        self.a = mx.random.normal((din, rank)) / np.sqrt(din)
        self.b = mx.zeros((rank, dout))

    def grow(self, rank: int):
        din, r0 = self.a.shape
        extra_a = mx.random.normal((din, rank - r0)) / np.sqrt(din)
        self.a = mx.concatenate([self.a, extra_a], axis=1)
        self.b = mx.concatenate([self.b, mx.zeros((rank - r0, self.b.shape[1]))], axis=0)

    def __call__(self, x):
        return self.base(x) + (x @ self.a) @ self.b


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, H)
        self.mid = nn.Linear(H, H)
        self.head = nn.Linear(H, 1)

    def __call__(self, x):
        h = mx.tanh(self.inp(x))
        h = nn.gelu(self.mid(h)) + h
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val(model, x, y):
    return loss_fn(model, x, y).item()


t0 = time.time()
model = Net()
mx.eval(model.parameters())
log.info(f"data old={old_tr[0].shape[0]} new={new_x.shape[0]}/{nv_x.shape[0]} noise_floor_mse={NOISE**2:.4f}")

# old kiln, full training, silent
opt = optim.Adam(learning_rate=2e-3)
lg = nn.value_and_grad(model, loss_fn)
for step in range(1, 1201):
    idx = mx.array(rng.integers(0, old_tr[0].shape[0], 128))
    l, g = lg(model, old_tr[0][idx], old_tr[1][idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
log.info(f"old kiln fitted: old val mse={val(model, *old_va):.4f}  new val mse (no adapter)={val(model, nv_x, nv_y):.4f}  {time.time()-t0:.1f}s")

model.inp = Grown(model.inp, rank=2)
model.freeze()
model.inp.unfreeze(keys=["a", "b"], recurse=False)
frozen = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if k not in ("inp.a", "inp.b")}
lg = nn.value_and_grad(model, loss_fn)
ACC = 4


def run_stage(opt, steps, first, every):
    for step in range(first, first + steps):
        acc = None
        tot = 0.0
        for _ in range(ACC):
            idx = mx.array(rng.integers(0, new_x.shape[0], 32))
            l, g = lg(model, new_x[idx], new_y[idx])
            acc = g if acc is None else tree_map(lambda p, q: p + q, acc, g)
            tot = tot + l
        acc = tree_map(lambda p: p / ACC, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, tot)
        if step % every == 0:
            log.info(f"step {step:5d}  rank {model.inp.a.shape[1]}  lr {opt.learning_rate.item():.2e}  "
                     f"train {tot.item() / ACC:.4f}  val {val(model, nv_x, nv_y):.4f}  {time.time()-t0:.1f}s")


ntr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log.info(f"adapter rank 2: trainable={ntr}")
opt = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 50), optim.cosine_decay(3e-3, 500, 5e-4)], [50]))
run_stage(opt, 500, 1, 100)

before = model(nv_x)
model.inp.grow(6)
model.inp.unfreeze(keys=["a", "b"], recurse=False)
after = model(nv_x)
ntr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log.info(f"grown to rank 6: trainable={ntr}  max|f_after-f_before|={mx.abs(after - before).max().item():.2e}")
opt = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 50), optim.cosine_decay(3e-3, 500, 1e-4)], [50]))
run_stage(opt, 500, 501, 100)

drift = max(mx.abs(dict(tree_flatten(model.parameters()))[k] - v).max().item() for k, v in frozen.items())
log.info(f"final new val mse={val(model, nv_x, nv_y):.4f}  floor={NOISE**2:.4f}  frozen drift={drift:.1e}")
log.info(f"done {time.time()-t0:.1f}s")
