import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
T, F = 12, 3

def make(n):
    twist = rng.normal(0, 1, (n, T, 1)).cumsum(1) * 0.3
    tension = rng.normal(0, 1, (n, T, 1))
    moist = rng.uniform(-1, 1, (n, 1, 1)) * np.ones((n, T, 1))
    x = np.concatenate([twist, tension, moist], -1).astype(np.float32)
    y = (0.8 * np.tanh(twist[:, -4:, 0].mean(1)) + 0.4 * tension.std(1)[:, 0]
         - 0.5 * moist[:, 0, 0] ** 2 + rng.normal(0, 0.1, n)).astype(np.float32)
    return x, y

xtr, ytr = make(6000)
xva, yva = make(1000)
mu, sd = ytr.mean(), ytr.std()
ytr_n, yva_n = (ytr - mu) / sd, (yva - mu) / sd
Xv, Yv = mx.array(xva), mx.array(yva_n)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(F, 48)
        self.head = nn.Linear(48, 1)
    def __call__(self, x):
        h = self.rnn(x)[:, -1]
        return self.head(h).squeeze(-1)

master = Net()
work = Net()
work.set_dtype(mx.float16)
mx.eval(master.parameters())

sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, 180, 3e-5)], [20])
opt = optim.Adam(learning_rate=sched)
SCALE = 1024.0
ACC = 2

def loss_fn(m, x, y):
    p = m(x.astype(mx.float16)).astype(mx.float32)
    return mx.mean((p - y) ** 2) * SCALE

vg = nn.value_and_grad(work, loss_fn)

def refresh():
    work.update(tree_map(lambda a: a.astype(mx.float16), master.parameters()))

def val_rmse():
    refresh()
    p = work(Xv.astype(mx.float16)).astype(mx.float32)
    return math.sqrt(mx.mean((p - Yv) ** 2).item()) * sd

base = math.sqrt(np.mean((yva - mu) ** 2))
print(f"ropewalk | train {len(ytr)} val {len(yva)} | predict-mean val RMSE {base:.3f} kN | noise floor ~0.100 kN")
print(f"ropewalk | master {master.head.weight.dtype} work {work.head.weight.dtype} | static loss scale {SCALE:.0f} | micro-batches per step {ACC}")
print(f"ropewalk | untrained val RMSE {val_rmse():.3f} kN")

perm, cur = rng.permutation(len(ytr)), 0
def batch(b=64):
    global perm, cur
    if cur + b > len(perm):
        perm, cur = rng.permutation(len(ytr)), 0
    idx = perm[cur:cur + b]; cur += b
    return mx.array(xtr[idx]), mx.array(ytr_n[idx])

t0 = time.time(); run = 0.0
for step in range(1, 201):
    refresh()
    acc = None; tot = 0.0
    for _ in range(ACC):
        xb, yb = batch()
        l, g = vg(work, xb, yb)
        g = tree_map(lambda a: a.astype(mx.float32) / (SCALE * ACC), g)
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        tot += l.item() / SCALE / ACC
    if step == 1:
        leaves = tree_flatten(acc)
        zero = [k for k, v in leaves if mx.abs(v).max().item() == 0]
        print(f"ropewalk | step 1 grads: {len(leaves)} leaves, dtypes {sorted({str(v.dtype) for _, v in leaves})}, zero leaves {zero}, lr {opt.learning_rate.item():.1e}")
    opt.update(master, acc)
    mx.eval(master.parameters(), opt.state)
    run = tot if step == 1 else 0.95 * run + 0.05 * tot
    if step % 25 == 0:
        print(f"step {step:5d} | lr {opt.learning_rate.item():.2e} | train mse(std) {run:.4f} | val RMSE {val_rmse():.3f} kN | {time.time()-t0:5.1f}s")
print(f"done | final val RMSE {val_rmse():.3f} kN vs baseline {base:.3f} | master dtype {master.head.weight.dtype}")
