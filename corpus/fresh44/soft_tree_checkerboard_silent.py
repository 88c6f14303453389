# Differentiable soft (oblique) decision tree of depth 4 on a 2-D 3x3 checkerboard.
# A small feature MLP feeds sigmoid routing at each inner node; leaves hold class
# logits. Hand-written heavy-ball SGD via tree_map, routing sharpness annealed by
# an inverse temperature that grows during training. Silent until the end.
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

DEPTH = 4
N_INNER = 2 ** DEPTH - 1
N_LEAF = 2 ** DEPTH


def checkerboard(n, rng, noise=0.03):
    x = rng.uniform(-1.5, 1.5, size=(n, 2))
    cell = np.floor((x + 1.5)).astype(int)
    y = (cell[:, 0] + cell[:, 1]) % 2
    flip = rng.random(n) < noise
    y = np.where(flip, 1 - y, y)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class SoftTree(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.router = nn.Linear(32, N_INNER)
        self.leaf_logits = 0.1 * mx.random.normal((N_LEAF, 2))

    def __call__(self, x, beta):
        p_right = mx.sigmoid(beta * self.router(self.feat(x)))  # (B, N_INNER)
        mu = mx.ones((x.shape[0], 1))
        node = 0
        for d in range(DEPTH):
            width = 2 ** d
            pr = p_right[:, node: node + width]
            mu = mx.stack([mu * (1 - pr), mu * pr], axis=-1).reshape(x.shape[0], 2 * width)
            node += width
        return mu @ mx.softmax(self.leaf_logits, axis=-1)  # (B, 2) class probabilities


def nll(model, x, y, beta):
    probs = model(x, beta)
    picked = mx.take_along_axis(probs, y[:, None], axis=1)[:, 0]
    return -mx.mean(mx.log(picked + 1e-7))


def main():
    mx.random.seed(4)
    rng = np.random.default_rng(8)
    x_tr, y_tr = checkerboard(8000, rng)
    x_te, y_te = checkerboard(1500, rng, noise=0.0)

    model = SoftTree()
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, nll)

    _, g0 = vg(model, x_tr[:256], y_tr[:256], 1.0)
    dead = [k for k, g in tree_flatten(g0) if mx.max(mx.abs(g)).item() == 0.0]
    assert not dead, f"leaves without gradient: {dead}"

    lr, mom = 0.3, 0.9
    velocity = tree_map(mx.zeros_like, model.parameters())
    epochs, bs = 150, 100
    n = x_tr.shape[0]
    per_epoch = []
    t0 = time.time()
    for ep in range(epochs):
        beta = 1.0 + 4.0 * ep / (epochs - 1)
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for s in range(0, n, bs):
            ids = perm[s: s + bs]
            loss, grads = vg(model, x_tr[ids], y_tr[ids], beta)
            velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
            model.update(tree_map(lambda p, v: p - lr * v, model.parameters(), velocity))
            mx.eval(model.parameters(), velocity, loss)
            tot += loss.item() * ids.shape[0]
        per_epoch.append(tot / n)

    beta_final = 5.0
    pred = mx.argmax(model(x_te, beta_final), axis=1)
    acc = mx.mean(pred == y_te).item()
    print(f"trained {epochs} epochs in {time.time() - t0:.1f}s; train NLL first/last epoch "
          f"{per_epoch[0]:.4f} -> {per_epoch[-1]:.4f} (chance NLL {np.log(2):.4f})")
    print(f"held-out accuracy {acc:.3f} (majority-class {max(mx.mean(y_te).item(), 1 - mx.mean(y_te).item()):.3f})")
    print("prediction map (# = class 1, . = class 0), x from -1.5 to 1.5, top row y = 1.5:")
    g = np.linspace(-1.45, 1.45, 30)
    xx, yy = np.meshgrid(g, g[::-1])
    grid = mx.array(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))
    cls = np.array(mx.argmax(model(grid, beta_final), axis=1)).reshape(30, 30)
    for row in cls:
        print("  " + "".join("#" if c else "." for c in row))


if __name__ == "__main__":
    main()
