"""Predict how many of the first K steps of the Collatz shortcut map T(n) are odd
steps (T(n) = (3n+1)/2 for odd n, n/2 for even n) from the binary digits of n.
The count is fixed by n mod 2**K, so a net can learn it from the low bits.

Log is written in the style of strace: each epoch is a "syscall" line.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NBITS = 15
N_MAX = 1 << NBITS
rng = np.random.default_rng(11)


K = 10


def odd_steps(n):
    c = 0
    for _ in range(K):
        if n % 2:
            n = (3 * n + 1) // 2
            c += 1
        else:
            n //= 2
    return c


ns = np.arange(2, N_MAX, dtype=np.int64)
labels = np.array([odd_steps(int(v)) for v in ns], dtype=np.int32)
bits = ((ns[:, None] >> np.arange(NBITS)[None, :]) & 1).astype(np.float32)
# extra features: residues mod 3 and 9 (one-hot), log2 n
mod3 = np.eye(3, dtype=np.float32)[ns % 3]
mod9 = np.eye(9, dtype=np.float32)[ns % 9]
logn = (np.log2(ns.astype(np.float32)) / NBITS)[:, None]
X_all = np.concatenate([bits * 2 - 1, mod3, mod9, logn], axis=1)
y_all = labels

perm = rng.permutation(len(ns))
n_test = 4000
test_idx, train_idx = perm[:n_test], perm[n_test:]
X_tr, y_tr = mx.array(X_all[train_idx]), mx.array(y_all[train_idx])
X_te, y_te = mx.array(X_all[test_idx]), mx.array(y_all[test_idx])
lab_te = labels[test_idx]


class StopNet(nn.Module):
    def __init__(self, d_in, h=96):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, h)
        self.out = nn.Linear(h, K + 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        h = h + nn.silu(self.l3(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(5)
model = StopNet(X_all.shape[1])
mx.eval(model.parameters())
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
vg = nn.value_and_grad(model, loss_fn)

pid = 40117
t0 = time.perf_counter()


def stamp():
    return f"{time.perf_counter() - t0:9.6f}"


print(f"{pid} {stamp()} execve(\"./collatz_fit\", [\"collatz_fit\", \"--bits={NBITS}\"], 0x7ffd /* {len(train_idx)} train, {n_test} test */) = 0")

# first-step gradient audit
l0, g0 = vg(model, X_tr[:256], y_tr[:256])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"{pid} {stamp()} gradcheck(leaves={len(flat)}, zero={zero!r}, loss0={float(l0):.4f}) = {len(zero)}")


def evaluate():
    logits = model(X_te)
    ce = float(nn.losses.cross_entropy(logits, y_te, reduction="mean"))
    pred = np.array(mx.argmax(logits, axis=-1))
    acc = float(np.mean(pred == lab_te))
    mae = float(np.mean(np.abs(pred - lab_te)))
    return ce, acc, mae


majority = int(np.bincount(labels[train_idx]).argmax())
base_acc = float(np.mean(lab_te == majority))
print(f"{pid} {stamp()} baseline(predict={majority}, test_acc={base_acc:.3f}) = 0")

B = 128
n_tr = len(train_idx)
epochs = 8
for ep in range(1, epochs + 1):
    order = mx.array(rng.permutation(n_tr))
    tot, cnt = 0.0, 0
    te0 = time.perf_counter()
    for s in range(0, n_tr - B + 1, B):
        idx = order[s:s + B]
        loss, grads = vg(model, X_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss)
        cnt += 1
    ce, acc, mae = evaluate()
    dt = time.perf_counter() - te0
    print(f"{pid} {stamp()} epoch({ep}, train_ce={tot / cnt:.4f}, test_ce={ce:.4f}, "
          f"test_acc={acc:.3f}, test_mae={mae:.3f}) = {cnt} <{dt:.3f}>")

ce, acc, mae = evaluate()
print(f"{pid} {stamp()} exit_group(0) = ?  /* final test_acc={acc:.3f} vs baseline {base_acc:.3f} */")
print(f"{pid} {stamp()} +++ exited with 0 +++")
