# Stilt-walker gait logs -> "will this stride wobble?" classifier.
# 5-fold CV (epoch counter restarts every fold), compiled train step,
# AdaGrad, early stopping on validation log-loss with restore of best weights.
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s gait: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("stilts")

mx.random.seed(4)
N, F = 2400, 9
# features: stride len, cadence, trunk sway, ankle strap tension, stilt height, ground slope, wind, fatigue min, imu jerk
X = mx.random.normal((N, F))
w_true = mx.array([0.4, -0.3, 1.4, -0.6, 0.9, 0.7, 0.5, 0.8, 1.1])
logit = X @ w_true + 0.9 * X[:, 2] * X[:, 4] - 0.6 * X[:, 7] ** 2 + 0.3
y = (mx.random.uniform(shape=(N,)) < mx.sigmoid(logit)).astype(mx.float32)
mx.eval(X, y)


class WobbleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 32)
        self.l2 = nn.Linear(32, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def bce(model, xb, yb):
    return nn.losses.binary_cross_entropy(model(xb), yb, with_logits=True, reduction="mean")


def evaluate(model, xb, yb):
    z = model(xb)
    ll = nn.losses.binary_cross_entropy(z, yb, with_logits=True, reduction="mean")
    acc = mx.mean(((z > 0).astype(mx.float32) == yb).astype(mx.float32))
    return float(ll), 100.0 * float(acc)


K = 5
perm = mx.random.permutation(N)
folds = [perm[i * (N // K):(i + 1) * (N // K)] for i in range(K)]
rows = []
t_all = time.time()
for k in range(K):
    va_idx = folds[k]
    tr_idx = mx.concatenate([folds[j] for j in range(K) if j != k])
    Xtr, ytr, Xva, yva = X[tr_idx], y[tr_idx], X[va_idx], y[va_idx]
    prior = float(mx.mean(ytr))
    base_ll = -(float(mx.mean(yva)) * math.log(prior) + (1 - float(mx.mean(yva))) * math.log(1 - prior))
    base_acc = 100.0 * max(float(mx.mean(yva)), 1 - float(mx.mean(yva)))

    model = WobbleNet()
    opt = optim.Adagrad(learning_rate=0.012)
    vg = nn.value_and_grad(model, bce)
    if k == 0:
        _, g = vg(model, Xtr, ytr)
        nz = sum(1 for _, v in tree_flatten(g) if float(mx.abs(v).max()) > 0)
        log.info("audit: %d/%d parameter tensors receive gradient", nz, len(tree_flatten(g)))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    best, best_ep, best_w, patience, bad = float("inf"), -1, None, 12, 0
    for ep in range(1, 201):
        order = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for i in range(0, Xtr.shape[0], 50):
            b = order[i:i + 50]
            loss = step(Xtr[b], ytr[b])
            mx.eval(state, loss)
            tot += float(loss)
        va_ll, va_acc = evaluate(model, Xva, yva)
        if ep % 10 == 1:
            log.info("fold %d ep %3d | train %.4f | val ll %.4f acc %.1f%% | prior ll %.4f", k + 1, ep, tot / (Xtr.shape[0] // 50), va_ll, va_acc, base_ll)
        if va_ll < best - 1e-4:
            best, best_ep, bad = va_ll, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= patience:
                log.warning("fold %d: no val gain for %d epochs at ep %d, restoring ep %d", k + 1, patience, ep, best_ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    ll, acc = evaluate(model, Xva, yva)
    rows.append((k + 1, best_ep, ll, acc, base_ll, base_acc))

print()
print("fold | best_ep | val_logloss | val_acc | prior_logloss | majority_acc")
print("-----+---------+-------------+---------+---------------+-------------")
for r in rows:
    print(f"{r[0]:>4} | {r[1]:>7} | {r[2]:>11.4f} | {r[3]:>6.1f}% | {r[4]:>13.4f} | {r[5]:>10.1f}%")
m_ll = sum(r[2] for r in rows) / K
m_acc = sum(r[3] for r in rows) / K
print(f"mean | {'':>7} | {m_ll:>11.4f} | {m_acc:>6.1f}% | {sum(r[4] for r in rows)/K:>13.4f} | {sum(r[5] for r in rows)/K:>10.1f}%")
log.info("cv finished in %.1fs", time.time() - t_all)
