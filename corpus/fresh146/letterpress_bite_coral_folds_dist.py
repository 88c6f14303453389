# Letterpress shop: grade the "bite" (impression depth) of a run, 0 = kiss ... 4 = deep,
# from 7 job-ticket readings. Ordinal CORAL head, 3-fold CV, early stopping with restore.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()

K = 5  # grades
rng = np.random.default_rng(2024)
n = 720
packing = rng.uniform(0.0, 0.6, n)      # mm of packing under tympan
caliper = rng.uniform(0.2, 0.8, n)      # paper thickness mm
cotton = rng.uniform(0, 100, n)         # % cotton
pressure = rng.uniform(1.0, 4.0, n)     # roller/platen pressure, arbitrary units
humidity = rng.uniform(30, 70, n)       # % RH
speed = rng.uniform(500, 2500, n)       # impressions / hour
plate = rng.uniform(0.915, 0.925, n)    # type-high inches
latent = (3.0 * packing + 1.2 * pressure + 0.02 * cotton * (humidity / 50) - 2.0 * caliper
          - 0.0006 * speed + 150.0 * (plate - 0.918) + 0.4 * np.sin(pressure * packing * 6)
          + 0.25 * rng.normal(size=n))
cuts = np.quantile(latent, [0.2, 0.4, 0.6, 0.8])
grade = np.searchsorted(cuts, latent).astype(np.int32)
X = np.stack([packing, caliper, cotton, pressure, humidity, speed, plate], 1).astype(np.float32)


class CoralNet(nn.Module):
    def __init__(self, d, h=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.score = nn.Linear(h, 1, bias=False)
        self.cut_bias = mx.linspace(1.0, -1.0, K - 1)

    def __call__(self, x):
        return self.score(self.body(x)) + self.cut_bias  # (B, K-1) logits of P(y > k)


def coral_loss(model, x, y):
    logits = model(x)
    targets = (y[:, None] > mx.arange(K - 1)[None, :]).astype(mx.float32)
    return nn.losses.binary_cross_entropy(logits, targets, reduction="mean")


def predict(model, x):
    return (mx.sigmoid(model(x)) > 0.5).sum(axis=1)


def qwk(a, b):
    O = np.zeros((K, K))
    for i, j in zip(a, b):
        O[i, j] += 1
    W = np.array([[(i - j) ** 2 for j in range(K)] for i in range(K)]) / (K - 1) ** 2
    E = np.outer(O.sum(1), O.sum(0)) / O.sum()
    return 1.0 - (W * O).sum() / max((W * E).sum(), 1e-9)


folds = np.array_split(rng.permutation(n), 3)
table = []
for f, val_idx in enumerate(folds, 1):
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != f - 1])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    Xtr, Xva = mx.array((X[tr_idx] - mu) / sd), mx.array((X[val_idx] - mu) / sd)
    ytr, yva = mx.array(grade[tr_idx]), grade[val_idx]
    base_grade = int(np.bincount(grade[tr_idx]).argmax())
    base_mae = float(np.abs(yva - base_grade).mean())

    mx.random.seed(100 + f)
    model = CoralNet(X.shape[1])
    opt = optim.RMSprop(learning_rate=2e-3)
    grad_fn = nn.value_and_grad(model, coral_loss)
    best = (np.inf, None, 0)
    patience, wait = 12, 0
    print(f"== fold {f}/3  train {len(tr_idx)}  val {len(val_idx)}  world {WORLD}  "
          f"(majority grade {base_grade}: val MAE {base_mae:.3f})")
    for ep in range(1, 201):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for s in range(0, len(tr_idx), 48):
            idx = perm[s:s + 48]
            loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
            grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        pred = np.array(predict(model, Xva))
        mae = float(np.abs(pred - yva).mean())
        k = qwk(yva, pred)
        if mae < best[0] - 1e-4:
            best = (mae, tree_map(lambda p: mx.array(p), model.parameters()), ep)
            wait = 0
        else:
            wait += 1
        if ep % 10 == 0 or wait == 0 and ep <= 3:
            print(f"fold {f} ep {ep:03d} | coral_bce {tot / len(tr_idx):.4f} | val_mae {mae:.3f} grades"
                  f" | qwk {k:.3f} | exact {100 * (pred == yva).mean():.1f}% | base_mae {base_mae:.3f}")
        if wait >= patience:
            print(f"fold {f}: no val_mae gain for {patience} epochs at ep {ep}, restoring ep {best[2]}")
            break
    model.update(best[1])
    mx.eval(model.parameters())
    pred = np.array(predict(model, Xva))
    table.append((f, best[2], float(np.abs(pred - yva).mean()), qwk(yva, pred),
                  100 * (pred == yva).mean(), base_mae))

print("\nfold | best_ep | val_mae | qwk   | exact% | baseline_mae")
for f, e, m, k, ex, b in table:
    print(f"{f:>4} | {e:>7} | {m:7.3f} | {k:.3f} | {ex:6.1f} | {b:.3f}")
arr = np.array([t[2:] for t in table])
print(f"mean |         | {arr[:, 0].mean():7.3f} | {arr[:, 1].mean():.3f} | {arr[:, 2].mean():6.1f} | {arr[:, 3].mean():.3f}")
