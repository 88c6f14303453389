"""Beekeeping: predict whether a hive swarms within 10 days from sensor logs.
Lion optimizer, early stopping that restores the best validation weights."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)


def make_hives(n):
    weight_gain = rng.normal(0.8, 0.5, n)          # kg/day
    brood_temp = rng.normal(34.5, 0.6, n)          # C
    queen_cells = rng.poisson(1.2, n).astype(np.float64)
    hum_var = rng.gamma(2.0, 0.8, n)               # acoustic hum variance
    frames_free = rng.integers(0, 8, n).astype(np.float64)
    colony_age = rng.uniform(0, 3, n)              # years since queen
    z = (1.3 * queen_cells - 0.6 * frames_free + 0.9 * hum_var
         + 0.8 * np.maximum(weight_gain, 0) + 0.5 * colony_age
         - 0.7 * np.abs(brood_temp - 34.5) - 2.4)
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    X = np.stack([weight_gain, brood_temp, queen_cells, hum_var, frames_free, colony_age], 1)
    return X.astype(np.float32), y


Xtr, ytr = make_hives(30000)
Xva, yva = make_hives(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd


class SwarmNet(nn.Module):
    def __init__(self, d=6, h=128):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores)); ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model):
    logits = model(mx.array(Xva))
    l = nn.losses.binary_cross_entropy(logits, mx.array(yva), with_logits=True, reduction="mean")
    s = np.array(logits)
    return l.item(), 100.0 * auc(s, yva), 100.0 * float(((s > 0) == (yva == 1)).mean())


mx.random.seed(3)
model = SwarmNet()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-2)
lg = nn.value_and_grad(model, loss_fn)

_, g0 = lg(model, mx.array(Xtr[:128]), mx.array(ytr[:128]))
leaves = tree_flatten(g0)
nz = [k for k, v in leaves if mx.abs(v).max().item() == 0]
print({"event": "grad_check", "leaves": len(leaves), "zero_leaves": nz})
v0 = evaluate(model)
print({"event": "untrained", "val_bce": round(v0[0], 4), "val_auc_pct": round(v0[1], 2),
       "base_rate_pct": round(100 * float(ytr.mean()), 2)})

bs, patience, best, best_ep, bad = 32, 6, float("inf"), 0, 0
best_params = None
t0 = time.time()
for epoch in range(1, 61):
    perm = rng.permutation(len(Xtr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, grads = lg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    vl, va, vacc = evaluate(model)
    improved = vl < best - 1e-4
    print({"epoch": epoch, "train_bce": round(tot / nb, 4), "val_bce": round(vl, 4),
           "val_auc_pct": round(va, 2), "val_acc_pct": round(vacc, 2),
           "best": improved, "secs": round(time.time() - t0, 1)})
    if improved:
        best, best_ep, bad = vl, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
        if bad >= patience:
            print({"event": "early_stop", "epoch": epoch, "best_epoch": best_ep})
            break

model.update(best_params)
vl, va, vacc = evaluate(model)
print({"event": "restored", "epoch": best_ep, "val_bce": round(vl, 4),
       "val_auc_pct": round(va, 2), "val_acc_pct": round(vacc, 2)})
