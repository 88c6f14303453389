"""Exposure-age regression for moraine boulders from synthetic 10Be/26Al data.

4-fold cross validation; each fold restarts its own step counter, warms the
learning rate up from exactly 0, and keeps the best validation weights
(early stopping with restore). Reports RMSE in kyr beside a mean-age baseline.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("moraine")

mx.random.seed(4)
N = 1200
k = mx.random.split(mx.random.key(7), 5)
age = mx.random.uniform(2.0, 25.0, (N,), key=k[0])             # kyr
elev = mx.random.uniform(0.8, 3.2, (N,), key=k[1])             # km a.s.l.
shield = mx.random.uniform(0.7, 1.0, (N,), key=k[2])           # topographic shielding
erosion = mx.random.uniform(0.0, 2.0, (N,), key=k[3])          # mm/kyr
prod = 4.0 * mx.exp(elev / 1.5) * shield
be10 = prod * age * mx.exp(-0.004 * erosion * age)
al26 = 6.75 * prod * age * mx.exp(-0.011 * age - 0.004 * erosion * age)
noise = 1 + 0.03 * mx.random.normal((N, 2), key=k[4])
feats = mx.stack([mx.log(be10), mx.log(al26), elev, shield], axis=1)
feats = feats.at[:, :2].add(mx.log(noise))
mu, sd = feats.mean(0), feats.std(0)
X = (feats - mu) / sd
y = age

perm = mx.random.permutation(N, key=mx.random.key(99))
folds = perm.reshape(4, -1)


def build():
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb).squeeze(-1), yb, delta=1.0, reduction="mean")


def rmse(m, xb, yb):
    return mx.sqrt(mx.mean((m(xb).squeeze(-1) - yb) ** 2)).item()


EPOCHS, BS, PATIENCE = 60, 50, 8
summary = []
for f in range(4):
    va = folds[f]
    tr = mx.concatenate([folds[j] for j in range(4) if j != f])
    Xtr, ytr, Xva, yva = X[tr], y[tr], X[va], y[va]
    baseline = math.sqrt(mx.mean((yva - ytr.mean()) ** 2).item())
    model = build()
    steps_per_epoch = Xtr.shape[0] // BS
    warm = optim.linear_schedule(0.0, 3e-2, 3 * steps_per_epoch)
    decay = optim.cosine_decay(3e-2, (EPOCHS - 3) * steps_per_epoch, 1e-3)
    opt = optim.SGD(learning_rate=optim.join_schedules([warm, decay], [3 * steps_per_epoch]),
                    momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    best, best_ep, best_w, wait = float("inf"), 0, None, 0
    log.info("fold %d/4 start: %d train, %d val, baseline RMSE %.2f kyr, lr0=%.1f",
             f + 1, Xtr.shape[0], Xva.shape[0], baseline, warm(mx.array(0)).item())
    for ep in range(1, EPOCHS + 1):
        order = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * BS:(b + 1) * BS]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        v = rmse(model, Xva, yva)
        if v < best - 1e-3:
            best, best_ep, wait = v, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        if ep == 1 or ep % 10 == 0:
            log.info("  fold %d ep %02d huber %.4f val_rmse %.3f kyr lr %.5f",
                     f + 1, ep, tot / steps_per_epoch, v, opt.learning_rate.item())
        if wait >= PATIENCE:
            log.info("  fold %d early stop at ep %d (best ep %d)", f + 1, ep, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    restored = rmse(model, Xva, yva)
    log.info("  fold %d restored ep %d: val_rmse %.3f kyr (baseline %.2f, %.1f%% of baseline)",
             f + 1, best_ep, restored, baseline, 100 * restored / baseline)
    summary.append((restored, baseline))

print("fold | rmse_kyr | baseline_kyr")
for i, (r, b) in enumerate(summary, 1):
    print(f"{i:>4} | {r:8.3f} | {b:12.2f}")
m = sum(r for r, _ in summary) / 4
print(f"mean | {m:8.3f} | {sum(b for _, b in summary)/4:12.2f}")
