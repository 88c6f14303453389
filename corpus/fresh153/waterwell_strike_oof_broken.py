"""Water-well siting: will a new borehole strike water (yield >= 0.5 L/s)?

5-fold cross-validation of a small MLP on synthetic survey features, with
out-of-fold (OOF) probabilities collected for a final OOF accuracy / log-loss.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N = 1500
# features: depth (m), distance to fault (km), slope (deg), rainfall (mm/yr),
# clay fraction, resistivity (ohm-m), elevation (m)
depth = rng.uniform(20, 120, N)
fault = rng.exponential(1.5, N)
slope = rng.uniform(0, 25, N)
rain = rng.normal(700, 150, N)
clay = rng.beta(2, 5, N)
resist = rng.lognormal(4.0, 0.6, N)
elev = rng.normal(400, 120, N)
logit = (0.03 * (depth - 70) - 0.9 * fault - 0.08 * slope + 0.004 * (rain - 700)
         - 3.0 * (clay - 0.3) + 0.8 * (np.log(resist) - 4.0) - 0.003 * (elev - 400) + 0.6)
y_np = (rng.uniform(size=N) < 1 / (1 + np.exp(-logit))).astype(np.float32)
X_np = np.stack([depth, fault, slope, rain, clay, np.log(resist), elev], 1).astype(np.float32)
X_np = (X_np - X_np.mean(0)) / X_np.std(0)
X = mx.array(X_np)
y = mx.array(y_np)
print(f"wells: {N}  strike rate: {y_np.mean():.3f}")


class WellNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 2)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb.astype(mx.int32), reduction="mean")


K = 5
perm = rng.permutation(N)
folds = np.array_split(perm, K)
oof_predictions = mx.zeros((N,))

for k in range(K):
    val_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    Xtr, ytr = X[mx.array(tr_idx)], y[mx.array(tr_idx)]
    Xva = X[mx.array(val_idx)]

    model = WellNet()
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)
    step = nn.value_and_grad(model, loss_fn)
    for epoch in range(30):
        order = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        nb = 0
        for s in range(0, len(tr_idx), 64):
            bi = order[s:s + 64]
            loss, grads = step(model, Xtr[bi], ytr[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch % 10 == 9:
            print(f"fold {k} epoch {epoch + 1:2d} train_ce {tot / nb:.4f}")

    fold_predictions = model(Xva)
    fold_probs = mx.softmax(fold_predictions, axis=-1)[:, 1]
    # Store OOF predictions
    oof_predictions[val_idx] = fold_probs
    mx.eval(oof_predictions)
    fold_acc = ((fold_probs > 0.5).astype(mx.float32) == y[mx.array(val_idx)]).mean().item()
    print(f"fold {k} val_acc {fold_acc:.3f}")

p = mx.clip(oof_predictions, 1e-6, 1 - 1e-6)
oof_ll = -(y * mx.log(p) + (1 - y) * mx.log(1 - p)).mean().item()
oof_acc = ((oof_predictions > 0.5).astype(mx.float32) == y).mean().item()
base = y_np.mean()
base_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
print(f"OOF accuracy {oof_acc:.3f}  OOF logloss {oof_ll:.4f}  (prior logloss {base_ll:.4f})")
