"""Group-lasso input selection for a vineyard frost-risk regressor.

30 synthetic sensor channels, only 5 drive the next-morning minimum leaf
temperature. The first layer's weight columns are grouped per channel and a
proximal group soft-threshold runs after every plain-SGD step, so whole
channels shrink to (near) zero; a channel whose group norm is under 0.01
counts as dropped. The run is split in two sessions:
session A saves weights + optimizer state, session B builds a fresh model and
optimizer, loads both and carries on (step counter continues).
Reports are Smart Game Format nodes.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_IN, HID = 30, 48
REAL = [0, 3, 7, 12, 21]
LAM = 0.006
STEPS_A, STEPS_B, BATCH = 900, 900, 1024

rng = np.random.default_rng(3)


def make(n):
    x = rng.normal(size=(n, N_IN)).astype(np.float32)
    a, b, c, d, e = (x[:, i] for i in REAL)
    y = 1.5 * a - 1.0 * np.tanh(2 * b) + 0.8 * c * d + 0.6 * np.sin(2 * e) + 0.5 * a * e
    y += 0.3 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])


X, Y = make(6000)
Xv, Yv = make(1500)
noise_floor = 0.3 ** 2
base_mse = float(mx.mean((Yv - mx.mean(Y)) ** 2))


class FrostNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_IN, HID)
        self.h = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.h(nn.silu(self.inp(x)))))


def mse_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def group_norms(model):
    return mx.linalg.norm(model.inp.weight, axis=0)  # weight is (HID, N_IN)


def prox(model, lr):
    w = model.inp.weight
    g = mx.linalg.norm(w, axis=0, keepdims=True)
    scale = mx.maximum(1.0 - lr * LAM * np.sqrt(HID) / mx.maximum(g, 1e-12), 0.0)
    model.inp.weight = w * scale


def lr_at(opt):
    return float(opt.learning_rate)


def node(step, sess, tr, model):
    va = float(mse_fn(model, Xv, Yv))
    gn = np.array(group_norms(model))
    alive = np.flatnonzero(gn > 0.01)
    pen = LAM * np.sqrt(HID) * gn.sum()
    kept = ",".join(str(i) for i in alive) if len(alive) <= 8 else f"{len(alive)} channels"
    print(f";N[{sess}{step}]C[mse {tr:.4f} | val {va:.4f} | penalty {pen:.4f} "
          f"| objective {tr + pen:.4f} | live {len(alive)}/{N_IN} ({kept}) | lr {lr_at(opt):.2e}]")


def run(model, opt, start, stop, sess, t0):
    vg = nn.value_and_grad(model, mse_fn)
    win = []
    for step in range(start, stop + 1):
        idx = mx.array(rng.integers(0, X.shape[0], BATCH))
        loss, grads = vg(model, X[idx], Y[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.max(mx.abs(g))) == 0.0]
            print(f"C[grad check: {len(flat)} leaves, zero: {zero or 'none'}]")
        lr = lr_at(opt)
        opt.update(model, grads)
        prox(model, lr)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(float(loss))
        if step in (1, 100) or step % 300 == 0:
            node(step, sess, float(np.mean(win)), model)
            win = []


schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.1, 60), optim.cosine_decay(0.1, STEPS_A + STEPS_B - 60, 0.01)], [60])

print("(;GM[1]FF[4]AP[frost-grouplasso]GN[vineyard frost, group lasso]")
print(f"C[noise floor mse {noise_floor:.4f} ; predict-the-mean val mse {base_mse:.4f} ; true channels {REAL}]")
t0 = time.time()

mx.random.seed(0)
model = FrostNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=schedule)
run(model, opt, 1, STEPS_A, "A", t0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "frost.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"C[session A closed at step {STEPS_A}, checkpoint written]")
del model, opt

mx.random.seed(123)
model = FrostNet()
model.load_weights(os.path.join(ckpt, "frost.safetensors"))
opt = optim.SGD(learning_rate=schedule)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"C[session B resumed, optimizer step counter {int(opt.state['step'])}]")
run(model, opt, STEPS_A + 1, STEPS_A + STEPS_B, "B", t0)

gn = np.array(group_norms(model))
print(f"C[final live channels {[int(i) for i in np.flatnonzero(gn > 0.01)]} ; true {REAL} ; "
      f"val mse {float(mse_fn(model, Xv, Yv)):.4f} ; wall {time.time() - t0:.1f}s])")
