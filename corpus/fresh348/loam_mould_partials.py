"""Bell-founding: hum-note deviation (cents) of a cast bell from its loam-mould profile.

Three foundries are learned in turn; each pours with its own bronze and its own
strickle-board habits, and only the current foundry's castings are at hand.
Orthogonal Gradient Descent (Farajtabar et al., 2020): after each foundry the
gradients of the network output on a handful of its castings are stored as an
orthonormal basis, and later updates are projected onto the orthogonal
complement of that basis before the plain SGD step.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)
rng = np.random.default_rng(3)

FOUNDRIES = ["Whitechapel-style", "Loughborough-style", "Aarle-Rixtel-style"]
N_FEAT = 6  # lip diameter, waist thickness, shoulder radius, height, tin %, cooling hours


def castings(k, n):
    x = rng.uniform(-1.0, 1.0, size=(n, N_FEAT)).astype(np.float32)
    cents = (
        38.0 * x[:, 1]
        - 25.0 * x[:, 0]
        + 14.0 * np.sin(2.2 * x[:, 2])
        + 9.0 * x[:, 3] * x[:, 1]
        + 6.0 * x[:, 4]
    )
    cents += [0.0, 11.0 * x[:, 5] ** 2 - 4.0, -9.0 * x[:, 2] * x[:, 4] + 3.0][k]
    cents += 2.0 * rng.normal(size=n)
    return x, (cents / 20.0).astype(np.float32)[:, None]


class Profile(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(N_FEAT, 24)
        self.b = nn.Linear(24, 24)
        self.c = nn.Linear(24, 1)

    def __call__(self, x):
        return self.c(mx.tanh(self.b(mx.tanh(self.a(x)))))


def flat(tree):
    items = tree_flatten(tree)
    return items, mx.concatenate([v.reshape(-1) for _, v in items])


def unflat(items, vec):
    out, i = [], 0
    for name, v in items:
        n = v.size
        out.append((name, vec[i : i + n].reshape(v.shape)))
        i += n
    return tree_unflatten(out)


model = Profile()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

sets = [(castings(k, 1500), castings(k, 400)) for k in range(3)]


def rmse_cents(k):
    (_, _), (xt, yt) = sets[k]
    p = model(mx.array(xt))
    return 20.0 * float(mx.sqrt(mx.mean((p - mx.array(yt)) ** 2)))


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


def out_fn(m, xi):
    return m(xi).sum()


vg = nn.value_and_grad(model, loss_fn)
og = nn.value_and_grad(model, out_fn)

basis = mx.zeros((0, n_params))
LR = 0.05
STEPS = 900
BS = 32
t0 = time.time()
print(f"network: {n_params} weights, plain SGD lr {LR}, batch {BS}")
print("foundry | step | mse(scaled) | kept %  | rmse cents by foundry so far")
for k, name in enumerate(FOUNDRIES):
    (xtr, ytr), _ = sets[k]
    for s in range(STEPS):
        idx = rng.integers(0, xtr.shape[0], size=BS)
        loss, g = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        items, gv = flat(g)
        if basis.shape[0] > 0:
            gp = gv - basis.T @ (basis @ gv)
        else:
            gp = gv
        kept = mx.linalg.norm(gp) / (mx.linalg.norm(gv) + 1e-12)
        step = unflat(items, -LR * gp)
        model.update(
            tree_unflatten(
                [(n, p + d) for (n, p), (_, d) in zip(tree_flatten(model.parameters()), tree_flatten(step))]
            )
        )
        mx.eval(model.parameters(), loss, kept)
        if s in (0, 49) or (s + 1) % 150 == 0:
            seen = "  ".join(f"{rmse_cents(j):5.2f}" for j in range(k + 1))
            print(f"{k + 1:7d} | {s + 1:4d} | {float(loss):11.4f} | {100 * float(kept):6.2f}% | {seen}")
    # store output-gradient directions of this foundry (Gram-Schmidt against the basis)
    added = 0
    for i in range(60):
        _, go = og(model, mx.array(xtr[i : i + 1]))
        _, v = flat(go)
        if basis.shape[0] > 0:
            v = v - basis.T @ (basis @ v)
            v = v - basis.T @ (basis @ v)  # second pass keeps float32 rows orthonormal
        nv = mx.linalg.norm(v)
        if float(nv) > 1e-4:
            basis = mx.concatenate([basis, (v / nv)[None, :]], axis=0)
            added += 1
    mx.eval(basis)
    ortho = float(mx.max(mx.abs(basis @ basis.T - mx.eye(basis.shape[0]))))
    print(f"-- {name} done: basis +{added} -> {basis.shape[0]} directions, max |B B^T - I| {ortho:.1e}")

print()
print("final rmse (cents):", ", ".join(f"{FOUNDRIES[j]} {rmse_cents(j):.2f}" for j in range(3)))
spread = [20.0 * float(np.std(sets[j][1][1])) for j in range(3)]
print("tuner's guess (mean) :", ", ".join(f"{FOUNDRIES[j]} {spread[j]:.2f}" for j in range(3)))
print(f"casting noise floor  : 2.00 cents | wall {time.time() - t0:.1f}s")
