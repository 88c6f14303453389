"""Mushroom genus from a spore-print record card.

Features per card: spore length / width (um), Q ratio, wall ornament score,
print colour L*a*b*, Melzer (amyloid) flag, cap diameter and two fields the
club records that carry no signal.  Small labelled set, so the MLP overfits;
early stopping keeps the best epoch and puts it back before the test card.
bf16 weights, gradients averaged over an mx.distributed group.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

GENERA = ["Amanita", "Russula", "Lactarius", "Cortinarius", "Agaricus"]
# mean spore L, W (um), ornament 0-3, print L*, a*, b*, P(amyloid), cap cm
PROFILE = np.array([
    [10.0, 7.5, 0.3, 92.0, 1.0, 6.0, 0.55, 9.0],
    [8.0, 6.8, 2.4, 85.0, 3.0, 22.0, 0.95, 7.0],
    [7.8, 6.4, 2.1, 88.0, 2.0, 12.0, 0.90, 8.0],
    [9.5, 5.6, 1.6, 45.0, 18.0, 38.0, 0.05, 6.0],
    [6.8, 4.9, 0.2, 25.0, 8.0, 10.0, 0.02, 8.5],
])
SPREAD = np.array([1.6, 1.1, 0.7, 9.0, 4.0, 8.0, 0.0, 3.0])

rng = np.random.default_rng(2157)


def cards(n):
    g = rng.integers(0, 5, n)
    p = PROFILE[g]
    x = p + SPREAD * rng.standard_normal((n, 8))
    x[:, 6] = (rng.uniform(size=n) < p[:, 6]).astype(float)
    q = x[:, 0] / np.maximum(x[:, 1], 1.0)
    noise = rng.standard_normal((n, 2))
    feats = np.column_stack([x[:, :2], q, x[:, 2:], noise])
    return feats.astype(np.float32), g.astype(np.int32)


Xtr, ytr = cards(500)
Xva, yva = cards(800)
Xte, yte = cards(1500)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6


def to_bf16(x):
    return mx.array((x - mu) / sd).astype(mx.bfloat16)


Xtr_m, Xva_m, Xte_m = to_bf16(Xtr), to_bf16(Xva), to_bf16(Xte)
ytr_m, yva_m, yte_m = mx.array(ytr), mx.array(yva), mx.array(yte)

group = mx.distributed.init()
world = group.size()

model = nn.Sequential(nn.Linear(11, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 5))
model.set_dtype(mx.bfloat16)
mx.eval(model.parameters())


def xent(model, x, y):
    logits = model(x).astype(mx.float32)
    return mx.mean(nn.losses.cross_entropy(logits, y))


def accuracy(x, y):
    return 100.0 * float(mx.mean(mx.argmax(model(x), axis=1) == y))


opt = optim.SGD(learning_rate=0.015, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, xent)

# make sure every layer is reached by the gradient before the run
_, g = step_fn(model, Xtr_m, ytr_m)
dead = [k for k, v in tree_flatten(g) if float(mx.abs(v.astype(mx.float32)).sum()) == 0.0]
print(f"ranks={world}  params={sum(v.size for _, v in tree_flatten(model.parameters()))}  "
      f"zero-grad tensors={dead if dead else 'none'}")

majority = 100.0 * float(np.mean(yte == np.bincount(ytr).argmax()))
print(f"{'ep':>3} | {'train xent':>10} | {'val xent':>8} | {'val acc':>7} | {'gap':>6} | note")
print("-" * 56)

best = (float("inf"), -1, None)
patience, bad = 8, 0
B = 20
for ep in range(1, 151):
    perm = rng.permutation(len(ytr))
    tot = 0.0
    for s in range(0, len(ytr), B):
        idx = mx.array(perm[s:s + B])
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        grads = tree_map(lambda t: mx.distributed.all_sum(t, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
    tr = tot / len(ytr)
    va = float(xent(model, Xva_m, yva_m))
    acc = accuracy(Xva_m, yva_m)
    note = ""
    if va < best[0] - 1e-4:
        best = (va, ep, tree_map(lambda p: mx.array(p), model.parameters()))
        bad = 0
        note = "*"
    else:
        bad += 1
    print(f"{ep:>3} | {tr:>10.4f} | {va:>8.4f} | {acc:>6.1f}% | {va - tr:>+6.3f} | {note}")
    if bad >= patience:
        print(f"no val improvement for {patience} epochs -> stop at {ep}")
        break

model.update(best[2])
mx.eval(model.parameters())
print(f"restored epoch {best[1]} (val xent {best[0]:.4f}; now {float(xent(model, Xva_m, yva_m)):.4f})")
print(f"test cards: acc {accuracy(Xte_m, yte_m):.1f}%  (majority-genus {majority:.1f}%)  "
      f"xent {float(xent(model, Xte_m, yte_m)):.4f}  (uniform {np.log(5):.4f})")
