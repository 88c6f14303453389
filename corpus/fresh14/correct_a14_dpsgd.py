"""Differentially-private SGD (per-example clipping + Gaussian noise) for a small MLP
classifier, per-example gradients via mx.vmap over mx.grad of a functional loss."""
import math
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

mx.random.seed(5)
N, D, H, K = 1200, 10, 32, 4
centers = mx.random.normal((K, D)) * 0.6
labels = mx.random.randint(0, K, (N,))
X = centers[labels] + mx.random.normal((N, D))
Xte_lab = mx.random.randint(0, K, (400,))
Xte = centers[Xte_lab] + mx.random.normal((400, D))

params = {
    "w1": mx.random.normal((D, H)) * (1 / math.sqrt(D)), "b1": mx.zeros((H,)),
    "w2": mx.random.normal((H, K)) * (1 / math.sqrt(H)), "b2": mx.zeros((K,)),
}


def forward(p, x):
    return mx.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def example_loss(p, x, y):
    return nn.losses.cross_entropy(forward(p, x[None]), y[None]).sum()


per_example_grads = mx.vmap(mx.grad(example_loss), in_axes=(None, 0, 0))
CLIP, SIGMA, LR, BS = 1.0, 1.1, 0.3, 60


def dp_step(p, xb, yb, key):
    g = per_example_grads(p, xb, yb)                      # each leaf: (B, ...)
    sq = sum((v.reshape(v.shape[0], -1) ** 2).sum(axis=1) for _, v in tree_flatten(g))
    scale = mx.minimum(1.0, CLIP / (mx.sqrt(sq) + 1e-6))  # (B,)
    g = tree_map(lambda v: (v * scale.reshape((-1,) + (1,) * (v.ndim - 1))).sum(axis=0), g)
    keys = mx.random.split(key, len(g))
    noisy = {}
    for (name, v), k in zip(sorted(g.items()), keys):
        noisy[name] = (v + SIGMA * CLIP * mx.random.normal(v.shape, key=k)) / xb.shape[0]
    return {n: p[n] - LR * noisy[n] for n in p}


key = mx.random.key(0)
nll0 = nn.losses.cross_entropy(forward(params, X), labels).mean().item()
acc0 = (forward(params, Xte).argmax(axis=1) == Xte_lab).mean().item()
print(f"epoch  0 | train nll {nll0:.4f} | test acc {acc0:.3f} | clip {CLIP} sigma {SIGMA}")
steps_per_epoch = N // BS
for epoch in range(1, 16):
    perm = mx.random.permutation(N)
    for s in range(steps_per_epoch):
        idx = perm[s * BS:(s + 1) * BS]
        key, sub = mx.random.split(key)
        params = dp_step(params, X[idx], labels[idx], sub)
        mx.eval(params)
    nll = nn.losses.cross_entropy(forward(params, X), labels).mean().item()
    acc = (forward(params, Xte).argmax(axis=1) == Xte_lab).mean().item()
    print(f"epoch {epoch:2d} | train nll {nll:.4f} | test acc {acc:.3f} | clip {CLIP} sigma {SIGMA}")
