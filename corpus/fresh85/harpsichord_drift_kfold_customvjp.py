"""Harpsichord tuning drift: cents of pitch drift per day after tuning, from
room humidity change, temperature change, string gauge, scale length and
days since restringing. 4-fold cross-validation, each fold from scratch.
The output layer squashes with a soft clamp whose gradient we write ourselves."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N = 4000
X = np.stack([rng.normal(0, 8, N),      # humidity change %RH
              rng.normal(0, 3, N),      # temperature change C
              rng.uniform(0.2, 0.5, N), # gauge mm
              rng.uniform(0.3, 1.9, N), # scale length m
              rng.uniform(0, 60, N)], 1)  # days since restring
y = (-0.9 * X[:, 0] + 1.6 * X[:, 1] * (X[:, 3] > 1.0) - 2.0 * np.log1p(X[:, 4]) * X[:, 2]
     + 0.05 * X[:, 0] * X[:, 1] + rng.normal(0, 1.2, N))
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
ysd = y.std(); ymu = y.mean()
Y = ((y - ymu) / ysd).astype(np.float32)[:, None]
Xm, Ym = mx.array(X), mx.array(Y)


@mx.custom_function
def soft_clamp(x):
    return 4.0 * mx.tanh(x / 4.0)


@soft_clamp.vjp
def soft_clamp_vjp(primals, cotangent, output):
    t = mx.tanh(primals / 4.0)
    return cotangent * (1.0 - t * t)


class DriftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return soft_clamp(self.out(h))


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def rmse_cents(model, xs, ys):
    p = model(mx.array(xs))
    return float(mx.sqrt(mx.mean((p - mx.array(ys)) ** 2)).item()) * ysd


K, EPOCHS, BS = 4, 6, 64
folds = np.array_split(rng.permutation(N), K)
print("| fold | epoch | train mse (std) | val rmse (cents/day) | secs |")
print("|-----:|------:|----------------:|---------------------:|-----:|")
results = []
grad_note = None
for k in range(K):
    mx.random.seed(100 + k)
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    model = DriftNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(model, loss_fn)
    print(f"| {k} | 0 | - | {rmse_cents(model, X[va], Y[va]):.3f} | 0.0 |")
    t0 = time.time()
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(tr)
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - BS + 1, BS):
            idx = mx.array(perm[i:i + BS])
            loss, g = vg(model, Xm[idx], Ym[idx])
            if grad_note is None:
                leaves = tree_flatten(g)
                zero = [n for n, v in leaves if float(mx.abs(v).max().item()) == 0.0]
                grad_note = f"{len(leaves)} gradient leaves at fold 0 step 1, zero: {zero or 'none'}"
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        print(f"| {k} | {ep} | {tot / nb:.4f} | {rmse_cents(model, X[va], Y[va]):.3f} | {time.time() - t0:.1f} |")
    results.append(rmse_cents(model, X[va], Y[va]))
print()
print(grad_note)
print(f"noise floor 1.2 cents/day, target sd {ysd:.2f}")
print("cross-validated val rmse: " + ", ".join(f"{r:.3f}" for r in results)
      + f"  mean {np.mean(results):.3f} +- {np.std(results):.3f}")
