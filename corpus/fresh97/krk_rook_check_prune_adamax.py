"""KRK endgame: is the black king in check from the white rook?

Trains a small MLP on one-hot square encodings, then prunes it in three
rounds (global magnitude pruning of the two hidden weight matrices to 50%,
75%, 90% sparsity).  After every optimizer step the pruned entries are put
back to zero, so pruned weights stay pruned.  Each pruning round knocks the
loss up; fine-tuning brings it back down.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(7)


def in_check(wk, wr, bk):
    (wkf, wkr), (wrf, wrr), (bkf, bkr) = wk, wr, bk
    if wrf == bkf:
        lo, hi = sorted((wrr, bkr))
        blocked = wkf == wrf and lo < wkr < hi
        return not blocked
    if wrr == bkr:
        lo, hi = sorted((wrf, bkf))
        blocked = wkr == wrr and lo < wkf < hi
        return not blocked
    return False


def sample_positions(n):
    X = np.zeros((n, 6 * 8), dtype=np.float32)
    y = np.zeros(n, dtype=np.int32)
    i = 0
    while i < n:
        sq = rng.integers(0, 64, size=3)
        if len(set(sq.tolist())) < 3:
            continue
        wk, wr, bk = [(int(s) % 8, int(s) // 8) for s in sq]
        if max(abs(wk[0] - bk[0]), abs(wk[1] - bk[1])) <= 1:
            continue  # kings touching: illegal
        for j, (f, r) in enumerate((wk, wr, bk)):
            X[i, 16 * j + f] = 1.0
            X[i, 16 * j + 8 + r] = 1.0
        y[i] = int(in_check(wk, wr, bk))
        i += 1
    return X, y


class CheckNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(48, 128)
        self.fc2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, x):
        x = nn.relu(self.fc1(x))
        x = nn.relu(self.fc2(x))
        return self.out(x)


PRUNABLE = ("fc1.weight", "fc2.weight")


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, y):
    logits = model(X)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    return loss.item(), acc.item()


def global_magnitude_masks(model, sparsity):
    flat = dict(tree_flatten(model.parameters()))
    mags = np.concatenate([np.abs(np.array(flat[k])).ravel() for k in PRUNABLE])
    thresh = np.quantile(mags, sparsity)
    return {k: (mx.abs(flat[k]) > thresh).astype(mx.float32) for k in PRUNABLE}


def apply_masks(model, masks):
    flat = dict(tree_flatten(model.parameters()))
    model.update(tree_unflatten([(k, flat[k] * m) for k, m in masks.items()]))


def sparsity_of(model):
    flat = dict(tree_flatten(model.parameters()))
    zeros = sum(int((flat[k] == 0).sum().item()) for k in PRUNABLE)
    total = sum(flat[k].size for k in PRUNABLE)
    return zeros / total


Xtr, ytr = sample_positions(12000)
Xte, yte = sample_positions(3000)
Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))
base_rate = float(np.mean(np.array(ytr)))
print(f"positions: train {Xtr.shape[0]}, test {Xte.shape[0]}; in-check rate {base_rate:.3f}")

mx.random.seed(3)
model = CheckNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

# first-step gradient check
_, g0 = step_fn(model, Xtr[:128], ytr[:128])
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max().item()) == 0.0]
print(f"gradient leaves: {len(tree_flatten(g0))}, all-zero: {zero_leaves}")

BATCH = 128
masks = None
schedule = [("dense", 0.0, 8), ("prune-1", 0.5, 4), ("prune-2", 0.75, 4), ("prune-3", 0.9, 6)]
t0 = time.perf_counter()
for stage, target, epochs in schedule:
    if target > 0:
        masks = global_magnitude_masks(model, target)
        apply_masks(model, masks)
        mx.eval(model.parameters())
        l, a = evaluate(model, Xte, yte)
        print(f"[{stage}] pruned to {100 * sparsity_of(model):.1f}% zeros -> test loss {l:.4f}, acc {100 * a:.2f}% (before fine-tuning)")
    for ep in range(epochs):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run, nb = 0.0, 0
        for s in range(0, Xtr.shape[0] - BATCH + 1, BATCH):
            idx = perm[s : s + BATCH]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            if masks is not None:
                apply_masks(model, masks)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        l, a = evaluate(model, Xte, yte)
        print(f"[{stage}] epoch {ep + 1}/{epochs}  train loss {run / nb:.4f}  test loss {l:.4f}  test acc {100 * a:.2f}%  zeros {100 * sparsity_of(model):.1f}%  ({time.perf_counter() - t0:.1f}s)")

l, a = evaluate(model, Xte, yte)
print(f"final: {100 * sparsity_of(model):.1f}% of hidden weights pruned, test acc {100 * a:.2f}% (majority class {100 * max(base_rate, 1 - base_rate):.2f}%)")
