import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

# Pipe-organ voicing shop: predict a flue pipe's pitch deviation (cents) after voicing
# from 6 workshop readings. Cyclic SGD (cosine restarts), snapshots at cycle ends,
# averaged snapshot weights, then a BatchNorm statistics refresh pass.
rng = np.random.default_rng(7)
N = 6000
X = rng.normal(size=(N, 6)).astype(np.float32)  # mouth width, cut-up, languid, wind, foot bore, temp
cents = (6.0 * np.tanh(X[:, 0] - 0.5 * X[:, 1]) + 3.0 * X[:, 2] * X[:, 3]
         - 2.0 * X[:, 4] ** 2 + 1.5 * X[:, 5] + rng.normal(scale=1.0, size=N))
y = cents.astype(np.float32)[:, None]
Xtr, ytr = mx.array(X[:4800]), mx.array(y[:4800])
Xva, yva = mx.array(X[4800:]), mx.array(y[4800:])

class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64); self.b1 = nn.BatchNorm(64)
        self.l2 = nn.Linear(64, 64); self.b2 = nn.BatchNorm(64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        x = nn.relu(self.b1(self.l1(x)))
        x = nn.relu(self.b2(self.l2(x)))
        return self.out(x)

def mse(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)

def val_mse(m):
    m.eval(); v = mse(m, Xva, yva).item(); m.train(); return v

mx.random.seed(0)
model = Voicer(); mx.eval(model.parameters())
cycle, cycles, bs = 150, 5, 128
sched = optim.join_schedules([optim.cosine_decay(0.03, cycle, 0.0005)] * cycles,
                             [cycle * k for k in range(1, cycles)])
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4)
lg = nn.value_and_grad(model, mse)
print(f"baseline (predict train mean) val mse {mx.mean((yva - ytr.mean()) ** 2).item():.3f}")
snaps, t0, step = [], time.time(), 0
for c in range(cycles):
    for i in range(cycle):
        idx = mx.array(rng.integers(0, 4800, size=bs))
        loss, g = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        step += 1
        if i % 50 == 0:
            print(f"cycle {c} step {step:4d} lr {opt.learning_rate.item():.4f} train mse {loss.item():.3f}")
    snaps.append(tree_map(lambda p: mx.array(p), model.parameters()))
    print(f"cycle {c} end: snapshot {len(snaps)} val mse {val_mse(model):.3f}")

last_val = val_mse(model)
avg = tree_map(lambda p, *ps: (p + sum(ps)) / (1 + len(ps)), snaps[1], *snaps[2:])
model.update(avg)
print(f"averaged {len(snaps) - 1} snapshots, stale-BN val mse {val_mse(model):.3f}")
# refresh BatchNorm running statistics for the averaged weights (no parameter updates)
for bn in (model.b1, model.b2):
    bn.running_mean = mx.zeros_like(bn.running_mean); bn.running_var = mx.ones_like(bn.running_var)
    bn.momentum = 0.3
model.train()
for k in range(0, 4800, 400):
    model(Xtr[k:k + 400]); mx.eval(model.state)
avg_val = val_mse(model)
print(f"final: last-iterate val mse {last_val:.3f}  averaged+BN-refresh val mse {avg_val:.3f}  noise floor ~1.0")
print(f"done in {time.time() - t0:.1f}s, {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} params")
