# Mushroom farm: a shared trunk is first fit on plentiful cap-diameter logs,
# then FROZEN; a fresh head is fit on a small set of flush-yield records.
# Phase 2 uses AdamW with a linear warm-up that starts at lr 0.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

np.random.seed(5)
mx.random.seed(5)


def grow_room(n):
    temp = np.random.uniform(10, 22, n)
    hum = np.random.uniform(75, 98, n)
    co2 = np.random.uniform(400, 2500, n)
    spawn = np.random.uniform(2, 8, n)
    light = np.random.uniform(0, 12, n)
    X = np.stack([temp, hum, co2, spawn, light], 1)
    vigour = np.tanh((hum - 86) / 6) - ((temp - 16) / 4) ** 2 - (co2 - 900) / 1500
    cap = 45 + 9 * vigour + 1.2 * spawn + np.random.normal(0, 1.5, n)       # mm
    yld = 3.0 + 1.1 * vigour + 0.25 * spawn + 0.05 * light + np.random.normal(0, 0.3, n)  # kg/m2
    return X.astype(np.float32), cap.astype(np.float32), yld.astype(np.float32)


Xa, cap_a, _ = grow_room(12000)          # plentiful cap logs
Xb, _, yld_b = grow_room(400)            # few yield records
Xv, _, yld_v = grow_room(2000)           # held-out yield records
mu, sd = Xa.mean(0), Xa.std(0)
norm = lambda X: mx.array((X - mu) / sd)
Xa_n, Xb_n, Xv_n = norm(Xa), norm(Xb), norm(Xv)
cap_n = mx.array((cap_a - cap_a.mean()) / cap_a.std())
ym, ys = yld_b.mean(), yld_b.std()
yb_n = mx.array((yld_b - ym) / ys)


class Farm(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 32), nn.SiLU())
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def run_epoch(model, opt, step_fn, X, y, bs):
    perm = np.random.permutation(X.shape[0])
    tot, n = 0.0, 0
    for i in range(0, len(perm), bs):
        idx = mx.array(perm[i:i + bs])
        loss, grads = step_fn(model, X[idx], y[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item() * len(idx)
        n += len(idx)
    return tot / n


def r2_pct(model):
    pred = np.array(model(Xv_n)) * ys + ym
    return 100.0 * (1 - np.sum((pred - yld_v) ** 2) / np.sum((yld_v - yld_v.mean()) ** 2))


def zero_leaves(grads):
    return [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]


t0 = time.time()
# ---------------- phase 1: whole net on cap diameter ----------------
net = Farm()
mx.eval(net.parameters())
vg = nn.value_and_grad(net, mse)
_, g = vg(net, Xa_n[:64], cap_n[:64])
print(f"phase 1 | trainable leaves {len(tree_flatten(g))} | zero-grad leaves {zero_leaves(g)}")
opt1 = optim.Adam(learning_rate=2e-3)
for ep in range(1, 7):
    tr = run_epoch(net, opt1, vg, Xa_n, cap_n, 128)
    print(f"phase 1 | epoch {ep}/6 | cap mse (std units) {tr:.4f} | {time.time() - t0:.1f}s")

# ---------------- phase 2: frozen trunk, new head on yield ----------------
net.head = nn.Linear(32, 1)
net.freeze()
net.head.unfreeze()
trunk_before = tree_map(lambda a: mx.array(a), net.trunk.parameters())
mx.eval(net.parameters(), trunk_before)

warm = optim.linear_schedule(0.0, 3e-3, 60)
decay = optim.cosine_decay(3e-3, 540, 3e-5)
opt2 = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [60]), weight_decay=1e-3)
vg2 = nn.value_and_grad(net, mse)
_, g = vg2(net, Xb_n[:32], yb_n[:32])
print(f"phase 2 | trainable leaves {len(tree_flatten(g))} ({', '.join(k for k, _ in tree_flatten(g))}) "
      f"| zero-grad leaves {zero_leaves(g)}")
print(f"phase 2 | epoch 0/30 | held-out R2 {r2_pct(net):6.1f}% (100% = perfect, 0% = predict the mean)")
for ep in range(1, 31):
    lr_now = float(opt2.learning_rate) if ep > 1 else 0.0
    tr = run_epoch(net, opt2, vg2, Xb_n, yb_n, 20)
    if ep in (1, 2, 3) or ep % 5 == 0:
        print(f"phase 2 | epoch {ep}/30 | lr at start {lr_now:.2e} | train mse (std units) {tr:.4f} "
              f"| held-out R2 {r2_pct(net):6.1f}% | {time.time() - t0:.1f}s")

drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b)
            in zip(tree_flatten(net.trunk.parameters()), tree_flatten(trunk_before)))
print(f"done | frozen trunk max drift {drift:.1f} | final held-out R2 {r2_pct(net):.1f}%")
