"""Two-stage training of a shared trunk with per-task heads.

Stage A: trunk + a small route-group probe, trained together.
Stage B: two task heads are attached (kept in a dict keyed by task), the trunk
is frozen for a short head warm-up, then everything is unfrozen and trained
at a lower learning rate.

Synthetic "tramline junction" data: 8 junction types, each a Gaussian blob in
12-D sensor space. Tasks: route group (junction // 4) and junction type.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.nn.layers.base as _base
import mlx.optimizers as optim
import numpy as np
from mlx.nn.layers.base import Module


# Parameter-tree walker used by Module.parameters() / trainable_parameters().
# Pinned copy of the mlx main-branch version (March 2024) our runs use.
def _unwrap(model, value_key, value, filter_fn, map_fn, is_leaf_fn):
    if is_leaf_fn(model, value_key, value):
        return map_fn(value)

    elif isinstance(value, Module):
        return {
            k: _unwrap(value, k, v, filter_fn, map_fn, is_leaf_fn)
            for k, v in value.items()
            if filter_fn(value, k, v)
        }

    elif isinstance(value, dict):
        nd = {}
        for k, v in v.items():
            tk = f"{value_key}.{k}"
            nd[k] = (
                _unwrap(model, tk, v, filter_fn, map_fn, is_leaf_fn)
                if filter_fn(model, tk, v)
                else {}
            )
        return nd

    elif isinstance(value, list):
        nl = []
        for i, vi in enumerate(value):
            tk = f"{value_key}.{i}"
            nl.append(
                _unwrap(model, tk, vi, filter_fn, map_fn, is_leaf_fn)
                if filter_fn(model, tk, vi)
                else {}
            )
        return nl

    raise RuntimeError("Unexpected leaf found while traversing the module")


_base._unwrap = _unwrap


N_TYPES = 8
DIM = 12
HIDDEN = 64


def make_data(n, rng, centers):
    y = rng.integers(0, N_TYPES, size=n)
    x = centers[y] + rng.normal(scale=1.5, size=(n, DIM))
    return x.astype(np.float32), y.astype(np.int32)


class JunctionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU()
        )
        self.probe = nn.Linear(HIDDEN, 2)

    def __call__(self, x):
        return self.trunk(x)


def batches(x, y, bs, rng):
    idx = rng.permutation(len(x))
    for i in range(0, len(x) - bs + 1, bs):
        j = idx[i : i + bs]
        yield mx.array(x[j]), mx.array(y[j])


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    centers = rng.normal(scale=2.2, size=(N_TYPES, DIM))
    xtr, ytr = make_data(4096, rng, centers)
    xva, yva = make_data(1024, rng, centers)
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = JunctionNet()
    mx.eval(model.parameters())

    # ---------------- Stage A: trunk + group probe ----------------
    def loss_a(m, x, y):
        return nn.losses.cross_entropy(m.probe(m(x)), y // 4, reduction="mean")

    opt = optim.Adam(learning_rate=3e-3)
    step_a = nn.value_and_grad(model, loss_a)
    print("stage A: trunk + route-group probe")
    for epoch in range(1, 4):
        t0 = time.time()
        tot, nb = 0.0, 0
        for xb, yb in batches(xtr, ytr, 128, rng):
            loss, grads = step_a(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        acc = mx.mean(mx.argmax(model.probe(model(xva_m)), axis=1) == yva_m // 4).item()
        print(
            f"  epoch {epoch}  loss {tot / nb:.4f}  val group acc {acc:.3f}  "
            f"({time.time() - t0:.2f}s)"
        )

    # ---------------- Stage B: task heads ----------------
    model.heads = {"group": nn.Linear(HIDDEN, 2), "junction": nn.Linear(HIDDEN, N_TYPES)}

    def loss_b(m, x, y):
        h = m(x)
        lg = nn.losses.cross_entropy(m.heads["group"](h), y // 4, reduction="mean")
        lj = nn.losses.cross_entropy(m.heads["junction"](h), y, reduction="mean")
        return lg + lj

    def evaluate():
        h = model(xva_m)
        ga = mx.mean(mx.argmax(model.heads["group"](h), axis=1) == yva_m // 4).item()
        ja = mx.mean(mx.argmax(model.heads["junction"](h), axis=1) == yva_m).item()
        return ga, ja

    print("stage B: heads attached, trunk frozen for warm-up")
    model.trunk.freeze()
    opt = optim.Adam(learning_rate=3e-3)
    step_b = nn.value_and_grad(model, loss_b)
    epoch = 0
    for phase, n_ep, lr in (("warm-up", 2, 3e-3), ("joint", 4, 1e-3)):
        if phase == "joint":
            model.trunk.unfreeze()
            opt = optim.Adam(learning_rate=lr)
            print("stage B: trunk unfrozen, joint training")
        for _ in range(n_ep):
            epoch += 1
            tot, nb = 0.0, 0
            for xb, yb in batches(xtr, ytr, 128, rng):
                loss, grads = step_b(model, xb, yb)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state)
                tot += loss.item()
                nb += 1
            ga, ja = evaluate()
            print(
                f"  [{phase}] epoch {epoch}  loss {tot / nb:.4f}  "
                f"val group acc {ga:.3f}  val junction acc {ja:.3f}"
            )

    ga, ja = evaluate()
    print(f"final: group acc {ga:.3f}  junction acc {ja:.3f}  (chance 0.500 / 0.125)")


if __name__ == "__main__":
    main()
