"""Hot-spring pool clarity: light transmission (%) at the viewing depth from water chemistry, 4-fold CV with early stopping."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(11)
N = 480
# silica, iron, sulfur, algae index (scaled), pool depth, water temperature (scaled)
X = rng.uniform(0.0, 1.0, (N, 6)).astype(np.float32)
absorb = 1.6 * X[:, 0] + 1.1 * X[:, 1] + 0.8 * X[:, 2] * X[:, 5] + 0.5 * X[:, 3] ** 2
T = 92.0 * np.exp(-absorb * (0.5 + X[:, 4])) + rng.normal(0.0, 1.0, N)
Y = T.astype(np.float32)[:, None]

folds = np.array_split(rng.permutation(N), 4)


class PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def mse(model, x, y):
    return mx.mean((model(x) - y / 100.0) ** 2)


def scores(model, x, y):
    pred = model(x) * 100.0
    mae = mx.mean(mx.abs(pred - y))
    r2 = 1.0 - mx.sum((pred - y) ** 2) / mx.sum((y - mx.mean(y)) ** 2)
    return mae.item(), r2.item()


t0 = time.time()
summary = []
print("| fold | epoch | train_mse | val_MAE | R2 | mean-baseline MAE |")
print("|------|-------|-----------|---------|----|-------------------|")
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    xtr, ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    xva, yva = mx.array(X[va_idx]), mx.array(Y[va_idx])
    base_mae = float(np.mean(np.abs(Y[va_idx] - Y[tr_idx].mean())))

    mx.random.seed(100 + k)
    model = PoolNet()
    opt = optim.Adamax(learning_rate=0.01)
    step = nn.value_and_grad(model, mse)
    best = (float("inf"), 0, None)
    bad = 0
    for epoch in range(1, 301):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for i in range(0, len(tr_idx), 32):
            b = perm[i:i + 32]
            loss, g = step(model, xtr[b], ytr[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.size
        if epoch % 5 == 0:
            mae, r2 = scores(model, xva, yva)
            print(f"| {k + 1} | {epoch:03d} | {tot / len(tr_idx):.5f} | {mae:.2f} pp | {r2:.3f} | {base_mae:.2f} pp |")
            if mae < best[0] - 0.01:
                snap = tree_map(lambda p: p * 1.0, model.parameters())
                mx.eval(snap)
                best = (mae, epoch, snap)
                bad = 0
            else:
                bad += 1
                if bad >= 6:
                    break
    model.update(best[2])
    mae, r2 = scores(model, xva, yva)
    print(f"fold {k + 1}: stopped at epoch {epoch}, restored epoch {best[1]} -> val MAE {mae:.2f} pp "
          f"(mean-baseline {base_mae:.2f} pp), R2 {r2:.3f}")
    summary.append((mae, r2, base_mae))

s = np.array(summary)
print(f"CV over 4 folds: MAE {s[:, 0].mean():.2f} +/- {s[:, 0].std():.2f} pp | R2 {s[:, 1].mean():.3f} | "
      f"baseline MAE {s[:, 2].mean():.2f} pp | {time.time() - t0:.1f}s")
