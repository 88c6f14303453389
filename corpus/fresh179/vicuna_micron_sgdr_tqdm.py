# Vicuna fleece (chaccu round-up records): regress mean fibre diameter (micron).
# SGD+Nesterov, linear warmup from lr=0, then cosine warm restarts (SGDR); compiled step.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
N = 7000
age = rng.uniform(1, 12, N)            # years
nutr = rng.uniform(0, 1, N)            # puna grass index
alt = rng.uniform(2.5, 4.8, N)         # km
colour = rng.integers(0, 4, N)         # 0 pale .. 3 dark
lact = rng.integers(0, 2, N)           # nursing a cria
interval = rng.uniform(8, 24, N)       # months since last shear
micron = (17.5 + 1.1 * np.log1p(age) * 1.6 + 3.2 * nutr ** 1.5 - 0.9 * (alt - 3.6)
          + 0.45 * colour - 0.8 * lact + 0.06 * interval + 0.5 * np.sin(age)
          + rng.normal(0, 0.6, N))
X = np.stack([age, nutr, alt, colour, lact, interval], 1)
X = (X - X.mean(0)) / X.std(0)
ymu, ysd = micron[:5600].mean(), micron[:5600].std()
Y = (micron - ymu) / ysd
Xtr, Ytr = mx.array(X[:5600], dtype=mx.float32), mx.array(Y[:5600, None], dtype=mx.float32)
Xva, Yva = mx.array(X[5600:], dtype=mx.float32), mx.array(Y[5600:, None], dtype=mx.float32)
base_mae = float(np.abs(micron[5600:] - ymu).mean())

class Vicuna(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))

mx.random.seed(3)
model = Vicuna()
WARM, CYCLE, CYCLES = 100, 500, 3
warm = optim.linear_schedule(0.0, 0.05, WARM)
cos = [optim.cosine_decay(0.05, CYCLE, 1e-4) for _ in range(CYCLES)]
sched = optim.join_schedules([warm] + cos, [WARM + i * CYCLE for i in range(CYCLES)])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

state = [model.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss

# grad check: every trained tensor gets a signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], Ytr[:256])
from mlx.utils import tree_flatten
assert all(float(mx.abs(v).sum()) > 0 for _, v in tree_flatten(g0))

TOTAL = WARM + CYCLE * CYCLES
B = 128
t0 = time.time()
for it in range(1, TOTAL + 1):
    idx = mx.array(rng.integers(0, 5600, B))
    loss = step(Xtr[idx], Ytr[idx])
    mx.eval(state, loss)
    if it % 80 == 0 or it == 1 or it == TOTAL:
        pv = model(Xva)
        vmse = nn.losses.mse_loss(pv, Yva)
        mae_um = mx.mean(mx.abs(pv - Yva)) * ysd
        mx.eval(vmse, mae_um)
        frac = it / TOTAL
        bar = "#" * int(20 * frac) + " " * (20 - int(20 * frac))
        el = time.time() - t0
        print(f"fleece {100*frac:3.0f}%|{bar}| {it}/{TOTAL} [{el:4.1f}s, lr={float(opt.learning_rate):.4f}] "
              f"batch_mse={loss.item():.4f} val_mse={vmse.item():.4f} mae={mae_um.item():.3f}um (mean-guess {base_mae:.3f}um)")
print(f"final: val MAE {mae_um.item():.3f} micron vs {base_mae:.3f} micron for the round-up mean")
