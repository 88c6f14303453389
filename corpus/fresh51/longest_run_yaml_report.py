"""Count the longest run of consecutive 1s in a 24-bit string.

Small Conv1d feature extractor + global max pool + linear head, framed as
25-way classification (run length 0..24). RMSprop, fixed training set of
3000 strings, held-out set of 600. Prints a YAML-ish block per epoch.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L = 24
rng = np.random.default_rng(7)


def longest_run(bits):
    best = cur = 0
    for b in bits:
        cur = cur + 1 if b else 0
        best = max(best, cur)
    return best


def make(n):
    # mix of densities so that long runs actually occur
    p = rng.uniform(0.3, 0.9, size=(n, 1))
    x = (rng.random((n, L)) < p).astype(np.float32)
    y = np.array([longest_run(r) for r in x], dtype=np.int32)
    return x, y


xtr, ytr = make(3000)
xte, yte = make(600)


class RunCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 32, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.c3 = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.head = nn.Linear(32 + L, L + 1)

    def __call__(self, x):
        h = x[..., None]                 # (B, L, 1)
        h = nn.relu(self.c1(h))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        pooled = h.max(axis=1)           # (B, 32)
        return self.head(mx.concatenate([pooled, x], axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(3)
model = RunCounter()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)

X_te, Y_te = mx.array(xte), mx.array(yte)
baseline = float(np.mean(yte == np.bincount(ytr).argmax()))

print("task: longest run of ones, 24-bit strings")
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"majority_class_acc: {baseline:.3f}")

B = 50
t0 = time.time()
first = True
for epoch in range(1, 13):
    perm = rng.permutation(len(xtr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm), B):
        idx = perm[i:i + B]
        xb, yb = mx.array(xtr[idx]), mx.array(ytr[idx])
        loss, grads = step_fn(model, xb, yb)
        if first:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if float(mx.abs(g).sum()) > 0)
            print(f"grad_leaves_nonzero_at_step1: {nz}/{len(flat)}")
            first = False
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    pred = mx.argmax(model(X_te), axis=1)
    exact = mx.mean(pred == Y_te).item()
    off1 = mx.mean(mx.abs(pred - Y_te) <= 1).item()
    print(f"- epoch: {epoch}")
    print(f"  train_xent: {tot / nb:.4f}")
    print(f"  heldout_exact: {exact:.3f}")
    print(f"  heldout_within_1: {off1:.3f}")
    print(f"  elapsed_s: {time.time() - t0:.1f}")
