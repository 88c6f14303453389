"""Bonsai care log: 3-way leaf-drop risk (none / some / heavy) from watering interval, soil
moisture, light hours, pot volume, root-prune weeks ago, humidity, plus one noise column.
Data-parallel style step with mx.distributed (single process: all_sum over a group of 1),
early stopping on validation loss that restores the best weights at the end."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
world = group.size()
rng = np.random.default_rng(11 + group.rank())

def make(n):
    water = rng.uniform(1, 10, n); moist = rng.uniform(0, 1, n); light = rng.uniform(2, 14, n)
    pot = rng.uniform(0.3, 5, n); prune = rng.uniform(0, 30, n); hum = rng.uniform(20, 90, n)
    junk = rng.normal(0, 1, n)
    stress = 0.35 * water - 3.0 * moist + 0.25 * np.abs(light - 8) - 0.4 * np.log(pot) \
        + 2.5 * np.exp(-prune / 6) - 0.03 * hum
    z = stress + rng.logistic(0, 0.6, n)
    y = np.digitize(z, [0.2, 1.8])
    X = np.stack([water, moist, light, pot, prune, hum, junk], 1).astype(np.float32)
    return X, y.astype(np.int32)

Xtr, ytr = make(8000); Xva, yva = make(1500); Xte, yte = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = [mx.array((a - mu) / sd) for a in (Xtr, Xva, Xte)]
Ytr, Yva, Yte = mx.array(ytr), mx.array(yva), mx.array(yte)

class LeafNet(nn.Module):
    def __init__(self, d_in=7, width=128, n_cls=3):
        super().__init__()
        self.layers = [nn.Linear(d_in, width), nn.Linear(width, width)]
        self.head = nn.Linear(width, n_cls)
    def __call__(self, x):
        for l in self.layers:
            x = nn.gelu(l(x))
        return self.head(x)

def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def evaluate(m, X, Y):
    logits = m(X)
    loss = nn.losses.cross_entropy(logits, Y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, -1) == Y)
    mx.eval(loss, acc)
    return loss.item(), 100.0 * acc.item()

def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)

mx.random.seed(5)
model = LeafNet()
opt = optim.AdamW(learning_rate=1e-2, weight_decay=1e-3)
vg = nn.value_and_grad(model, ce)
counts = np.bincount(ytr, minlength=3)
print(f">> world={world} rank={group.rank()} train={len(ytr)} class_counts={counts.tolist()} "
      f"majority_acc={100 * counts.max() / counts.sum():.1f}%")
l0, a0 = evaluate(model, Xva, Yva)
print(f">> untrained  val_ce={l0:.4f}  val_acc={a0:.1f}%")

B, patience, max_epochs = 64, 5, 60
best_loss, best_epoch, best_params, bad = float("inf"), 0, None, 0
t0 = time.time(); n = Xtr.shape[0]; first = True
for epoch in range(1, max_epochs + 1):
    perm = rng.permutation(n)
    tot, k = 0.0, 0
    for s in range(0, n, B):
        idx = mx.array(perm[s:s + B])
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        g = allreduce_mean(g)
        if first:
            flat = tree_flatten(g)
            zeros = [p for p, v in flat if not mx.any(v != 0).item()]
            print(f">> first-step gradients: {len(flat)} leaves, zero: {zeros}")
            first = False
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); k += 1
    vl, va = evaluate(model, Xva, Yva)
    mark = ""
    if vl < best_loss - 1e-4:
        best_loss, best_epoch, bad = vl, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
        mark = "  *best*"
    else:
        bad += 1
    print(f">> epoch {epoch:2d}  train_ce={tot / k:.4f}  val_ce={vl:.4f}  val_acc={va:.1f}%  "
          f"patience_left={patience - bad}{mark}")
    if bad >= patience:
        print(f">> early stop at epoch {epoch}; restoring weights from epoch {best_epoch}")
        break

last_l, _ = evaluate(model, Xva, Yva)
model.update(best_params); mx.eval(model.parameters())
rl, _ = evaluate(model, Xva, Yva)
tl, ta = evaluate(model, Xte, Yte)
print(f">> val_ce last={last_l:.4f} restored={rl:.4f} (best epoch {best_epoch})")
print(f">> done  test_ce={tl:.4f}  test_acc={ta:.1f}%  secs={time.time() - t0:.1f}")
