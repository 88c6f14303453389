# Espresso shot grading (under / balanced / over-extracted) from 6 brew readings.
# SGD with hypergradient descent (Baydin et al. 2018): the learning rate is itself
# learned, lr_t = lr_{t-1} + beta * <g_t, g_{t-1}>.  It starts at EXACTLY 0, so the
# first update changes nothing by design; the lr then grows on its own.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(11)


def brew(n):
    dose, yield_g, secs, grind, temp, tds = rs.normal(size=(6, n))
    ratio = yield_g - dose
    ext = 0.8 * secs - 0.9 * grind + 0.4 * temp + 0.5 * ratio + 0.3 * tds * secs
    ext = ext + 0.35 * rs.normal(size=n)
    lab = np.digitize(ext, [-0.6, 0.6])  # 0 under, 1 balanced, 2 over
    X = np.stack([dose, yield_g, secs, grind, temp, tds], 1).astype(np.float32)
    return X, lab.astype(np.int32)


Xtr, ytr = brew(9000)
Xva, yva = brew(2000)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)

mx.random.seed(0)
model = nn.Sequential(nn.Linear(6, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 3))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def dot_tree(a, b):
    return sum((u * v).sum() for (_, u), (_, v) in zip(tree_flatten(a), tree_flatten(b)))


lr = mx.array(0.0)
beta = 1e-3
prev_g = None
bs, epochs = 90, 45
steps_per_epoch = len(Xtr) // bs
print(f"# {len(Xtr)} train / {len(Xva)} valid shots, classes {np.bincount(ytr).tolist()}")
print(f"# chance cross-entropy ln(3) = {math.log(3):.3f}")
print(f"{'epoch':>5} {'lr':>9} {'train_ce':>9} {'valid_ce':>9} {'valid_miss%':>11}")
step = 0
for ep in range(1, epochs + 1):
    order = rs.permutation(len(Xtr))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = order[b * bs:(b + 1) * bs]
        loss, g = grad_fn(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        if step == 0:
            leaves = tree_flatten(g)
            nz = sum(int(mx.any(v != 0).item()) for _, v in leaves)
            print(f"# step 0: {nz}/{len(leaves)} gradient leaves non-zero, lr = {lr.item()}")
        if prev_g is not None:
            # d loss_t / d lr = -<g_t, g_{t-1}>  ->  gradient descent on lr
            lr = mx.maximum(lr + beta * dot_tree(g, prev_g), 0.0)
        model.update(tree_map(lambda p, d: p - lr * d, model.parameters(), g))
        prev_g = g
        mx.eval(model.parameters(), lr, prev_g)
        run += loss.item()
        step += 1
    if ep % 3:
        continue
    logits = model(Xva_m)
    vce = loss_fn(model, Xva_m, yva_m).item()
    miss = 100.0 * (mx.argmax(logits, 1) != yva_m).astype(mx.float32).mean().item()
    print(f"{ep:>5} {lr.item():>9.5f} {run / steps_per_epoch:>9.4f} {vce:>9.4f} {miss:>10.2f}%")
