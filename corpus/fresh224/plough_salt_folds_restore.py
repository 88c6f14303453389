"""Winter road crew: classify the road surface 2h after gritting (clear / slush / ice)
from six tower-sensor readings.  3-fold CV, fresh model per fold, early stopping on
validation accuracy with patience, best weights restored before the fold's final test."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)
N = 3600
air = mx.random.uniform(-12, 4, (N,))
road = air + mx.random.normal((N,)) * 1.5 + 1.0
salt = mx.random.uniform(0, 30, (N,))          # g/m2
traffic = mx.random.uniform(0, 1, (N,))        # fraction of capacity
humid = mx.random.uniform(40, 100, (N,))       # %
hours = mx.random.uniform(0, 8, (N,))          # since spread
eff = road + 0.35 * salt * mx.exp(-hours / 5.0) + 2.0 * traffic - 0.04 * (humid - 70)
eff = eff + mx.random.normal((N,)) * 0.8
label = mx.where(eff > 1.0, 0, mx.where(eff > -2.5, 1, 2)).astype(mx.int32)
X = mx.stack([air, road, salt, traffic, humid, hours], axis=1)
X = (X - X.mean(0)) / X.std(0)


class SurfaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.bn = nn.BatchNorm(48)
        self.drop = nn.Dropout(0.2)
        self.l2 = nn.Linear(48, 32)
        self.out = nn.Linear(32, 3)

    def __call__(self, x):
        h = self.drop(nn.relu(self.bn(self.l1(x))))
        return self.out(nn.relu(self.l2(h)))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


K = 3
perm = mx.random.permutation(N)
folds = [perm[i::K] for i in range(K)]
PATIENCE, MAX_EP, BS = 4, 30, 64
print(f"{'fold':>4} | {'ep':>3} | {'trn_xent':>8} | {'val_xent':>8} | {'val_acc':>7} | best")
print("-" * 52)
summary = []
t0 = time.time()
for f in range(K):
    te_idx = folds[f]
    va_idx = folds[(f + 1) % K][: len(folds[(f + 1) % K]) // 2]
    tr_idx = mx.concatenate([folds[(f + 1) % K][len(folds[(f + 1) % K]) // 2:], folds[(f + 2) % K]])
    Xtr, ytr = X[tr_idx], label[tr_idx]
    Xva, yva = X[va_idx], label[va_idx]
    Xte, yte = X[te_idx], label[te_idx]

    model = SurfaceNet()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    step_grad = nn.value_and_grad(model, xent)
    best_acc, best_ep, best_params, wait = -1.0, 0, None, 0
    for ep in range(1, MAX_EP + 1):
        model.train()
        order = mx.random.permutation(Xtr.shape[0])
        tot, nb = 0.0, 0
        for s in range(0, Xtr.shape[0] - BS + 1, BS):
            bi = order[s:s + BS]
            loss, g = step_grad(model, Xtr[bi], ytr[bi])
            opt.update(model, g)
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
            nb += 1
        model.eval()
        vlog = model(Xva)
        vx = nn.losses.cross_entropy(vlog, yva, reduction="mean").item()
        vacc = (mx.argmax(vlog, axis=1) == yva).astype(mx.float32).mean().item() * 100
        mark = ""
        if vacc > best_acc + 1e-6:
            best_acc, best_ep, wait = vacc, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            best_stats = {"mean": mx.array(model.bn.running_mean), "var": mx.array(model.bn.running_var)}
            mx.eval(best_params, best_stats)
            mark = "*"
        else:
            wait += 1
        print(f"{f + 1:>4} | {ep:>3} | {tot / nb:8.4f} | {vx:8.4f} | {vacc:6.2f}% | {mark}")
        if wait >= PATIENCE:
            print(f"     stop: no val gain for {PATIENCE} epochs, rolling back to ep {best_ep}")
            break
    model.update(best_params)
    model.bn.running_mean = best_stats["mean"]
    model.bn.running_var = best_stats["var"]
    model.eval()
    tacc = (mx.argmax(model(Xte), axis=1) == yte).astype(mx.float32).mean().item() * 100
    base = max((yte == c).astype(mx.float32).mean().item() for c in range(3)) * 100
    summary.append((f + 1, best_ep, best_acc, tacc, base))
    print("-" * 52)

print("fold  best_ep  val_acc  test_acc  majority_baseline")
for r in summary:
    print(f"{r[0]:>4}  {r[1]:>7}  {r[2]:6.2f}%  {r[3]:7.2f}%  {r[4]:8.2f}%")
mean_t = sum(r[3] for r in summary) / K
print(f"cv test acc {mean_t:.2f}% +/- {math.sqrt(sum((r[3] - mean_t) ** 2 for r in summary) / K):.2f}  "
      f"({time.time() - t0:.1f}s)")
