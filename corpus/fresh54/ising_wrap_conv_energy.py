"""Regress the nearest-neighbour Ising energy per spin of 10x10 periodic lattices.

Conv net on a wrap-padded lattice, SGD with Nesterov momentum under a step decay,
the whole update compiled. Output is tab-separated; comment lines start with '#'.
"""
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L = 10
rng = np.random.default_rng(2024)
mx.random.seed(2024)


def sample_lattices(n):
    # spins with a random per-lattice bias so energies span a wide range
    p_up = rng.uniform(0.05, 0.95, size=(n, 1, 1))
    s = np.where(rng.random((n, L, L)) < p_up, 1.0, -1.0).astype(np.float32)
    # smooth some lattices to create ordered domains (low energy)
    for k in np.nonzero(rng.random(n) < 0.5)[0]:
        for _ in range(rng.integers(1, 4)):
            nb = np.roll(s[k], 1, 0) + np.roll(s[k], -1, 0) + np.roll(s[k], 1, 1) + np.roll(s[k], -1, 1)
            s[k] = np.where(nb != 0, np.sign(nb), s[k])
    e = -(s * np.roll(s, 1, 1) + s * np.roll(s, 1, 2)).sum(axis=(1, 2)) / (L * L)
    return mx.array(s[..., None]), mx.array(e.astype(np.float32))


def wrap_pad(x):
    # periodic boundary: one row/column from the opposite edge on every side
    x = mx.concatenate([x[:, -1:], x, x[:, :1]], axis=1)
    return mx.concatenate([x[:, :, -1:], x, x[:, :, :1]], axis=2)


class EnergyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, kernel_size=3)
        self.c2 = nn.Conv2d(16, 16, kernel_size=1)
        self.head = nn.Linear(16, 1)

    def __call__(self, s):
        h = nn.relu(self.c1(wrap_pad(s)))
        h = nn.relu(self.c2(h))
        return self.head(h.mean(axis=(1, 2))).squeeze(-1)


def mse(model, s, e):
    return ((model(s) - e) ** 2).mean()


x_tr, y_tr = sample_lattices(6000)
x_va, y_va = sample_lattices(1500)
model = EnergyNet()
mx.eval(model.parameters())

# first-step gradient check on every leaf
_, g0 = nn.value_and_grad(model, mse)(model, x_tr[:128], y_tr[:128])
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"# gradcheck\tleaves={len(leaves)}\tzero={len(dead)}\t{','.join(dead) or '-'}")
if dead:
    sys.exit(1)

base = float(((y_va - y_tr.mean()) ** 2).mean())
print(f"# baseline\tpredict-train-mean val_mse={base:.5f}\tenergy_range=[{float(y_tr.min()):.2f},{float(y_tr.max()):.2f}]")

sched = optim.step_decay(0.05, 0.5, 600)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(s, e):
    loss, grads = nn.value_and_grad(model, mse)(model, s, e)
    grads, _ = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss


print("step\tlr\tbatch_mse\tval_mse\tval_mae_per_spin\tsec")
t0 = time.time()
B, STEPS = 64, 2400
for it in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, x_tr.shape[0], size=B))
    loss = step(x_tr[idx], y_tr[idx])
    mx.eval(state, loss)
    if it % 300 == 0 or it == 1:
        pred = model(x_va)
        vmse = float(((pred - y_va) ** 2).mean())
        vmae = float(mx.abs(pred - y_va).mean())
        print(f"{it}\t{float(opt.learning_rate):.4g}\t{loss.item():.5f}\t{vmse:.5f}\t{vmae:.4f}\t{time.time() - t0:.1f}")

print(f"# done\tval_mse {base:.5f} -> {vmse:.5f}")
