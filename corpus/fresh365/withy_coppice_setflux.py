"""Withy-bed coppice: first-year rod yield (kg per stool) from 6 site readings.

Sparse Evolutionary Training (SET): the two hidden weight matrices start as
random sparse masks (25% density).  Every 60 steps, in each sparse layer, the
30% of live connections with the smallest magnitude are removed and the same
number of new connections are opened at random empty positions, starting from
small random values; their momentum buffers start at zero.  The topology
change makes the loss tick up briefly each time.  Reports are written as
header blocks, one block per topology update, with nothing printed between.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
NOISE = 0.30


def make_stools(n):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (1.4 * np.tanh(x[:, 0]) + 0.8 * x[:, 1] * x[:, 2] - 0.6 * x[:, 3] ** 2
         + 0.5 * np.sin(2.0 * x[:, 4]) + 0.3 * x[:, 5] + 3.0)
    y = y + NOISE * rng.normal(size=n)
    return x, y.astype(np.float32)[:, None]


xtr, ytr = make_stools(3000)
xva, yva = make_stools(800)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class StoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        return self.l3(nn.silu(self.l2(nn.silu(self.l1(x)))))


model = StoolNet()
SPARSE = ["l1", "l2"]
DENSITY = 0.25
ZETA = 0.30
masks = {}
for name in SPARSE:
    layer = getattr(model, name)
    m = (rng.random(layer.weight.shape) < DENSITY).astype(np.float32)
    masks[name] = mx.array(m)
    layer.weight = layer.weight * masks[name] / np.sqrt(DENSITY)
mx.eval(model.parameters())

opt = optim.SGD(learning_rate=0.05, momentum=0.9)
opt.init(model.trainable_parameters())


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, mse)


def apply_masks():
    for name in SPARSE:
        layer = getattr(model, name)
        layer.weight = layer.weight * masks[name]
        v = opt.state[name]["weight"]["v"]
        opt.state[name]["weight"]["v"] = v * masks[name]


def evolve():
    moved = {}
    for name in SPARSE:
        layer = getattr(model, name)
        w = np.array(layer.weight)
        m = np.array(masks[name])
        live = np.flatnonzero(m)
        k = int(round(ZETA * live.size))
        drop = live[np.argsort(np.abs(w.ravel()[live]))[:k]]
        m.ravel()[drop] = 0.0
        empty = np.flatnonzero(m == 0)
        empty = np.setdiff1d(empty, drop)
        grow = rng.choice(empty, size=k, replace=False)
        m.ravel()[grow] = 1.0
        w.ravel()[drop] = 0.0
        w.ravel()[grow] = rng.normal(scale=0.05, size=k)
        masks[name] = mx.array(m)
        layer.weight = mx.array(w)
        moved[name] = (k, int(m.sum()))
    apply_masks()
    mx.eval(model.parameters(), opt.state)
    return moved


def rmse(x, y):
    return float(mx.sqrt(mx.mean((model(x) - y) ** 2)).item())


mean_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
A = np.c_[xtr, np.ones(len(xtr))]
coef = np.linalg.lstsq(A, ytr, rcond=None)[0]
lin_rmse = float(np.sqrt(np.mean((np.c_[xva, np.ones(len(xva))] @ coef - yva) ** 2)))

print("Run: withy-bed rod yield, SET sparse MLP 6-64-64-1")
print(f"Baselines: predict-the-mean {mean_rmse:.3f} kg; least-squares line {lin_rmse:.3f} kg; noise floor {NOISE:.2f} kg")
print(f"Density: {DENSITY:.2f}; Rewire-Fraction: {ZETA:.2f}; Rewire-Every: 60 steps\n")

losses = []
STEPS, EVERY = 600, 60
for t in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(xtr), size=32))
    loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    apply_masks()
    mx.eval(model.parameters(), opt.state, loss)
    losses.append(loss.item())
    if t % EVERY == 0:
        before = rmse(Xva, Yva)
        if t < STEPS:
            moved = evolve()
            after = rmse(Xva, Yva)
        else:
            moved, after = None, before
        print(f"Step: {t}")
        print(f"Train-MSE-Window: {np.mean(losses[-EVERY:]):.4f}")
        print(f"Val-RMSE-kg: {before:.4f}")
        if moved:
            print("Rewired: " + "; ".join(f"{n} {k} links (live {live})" for n, (k, live) in moved.items()))
            print(f"Val-RMSE-After-Rewire-kg: {after:.4f}")
        print()

dead = sum(int(mx.sum((getattr(model, n).weight != 0) * (1 - masks[n])).item()) for n in SPARSE)
live = sum(int(masks[n].sum().item()) for n in SPARSE)
total = sum(getattr(model, n).weight.size for n in SPARSE)
print(f"Final-Val-RMSE-kg: {rmse(Xva, Yva):.4f}")
print(f"Live-Links: {live} of {total} ({100 * live / total:.1f}%)")
print(f"Nonzero-Outside-Mask: {dead}")
