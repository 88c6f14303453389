# Reed-thatch roof: remaining service life (years) from survey features.
# SGDR warm restarts (loss jumps at each restart by design), compiled step with state.
import math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
def make(n):
    pitch = rng.uniform(40, 60, n); reed = rng.uniform(0.9, 1.8, n); moist = rng.uniform(0, 1, n)
    moss = rng.uniform(0, 1, n); aspect = rng.uniform(0, 2 * np.pi, n); age = rng.uniform(0, 30, n)
    life = (45 + 0.6 * (pitch - 50) + 8 * (reed - 1.3) - 12 * moist * moss
            - 4 * np.cos(aspect) * moist - 0.9 * age + 0.01 * age ** 2)
    life = np.clip(life, 0, None) + rng.normal(0, 1.5, n)
    X = np.stack([pitch, reed, moist, moss, np.sin(aspect), np.cos(aspect), age], 1)
    return X.astype(np.float32), life.astype(np.float32)

Xtr, ytr = make(8000); Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0); ym, ys = ytr.mean(), ytr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
Xtr_m, ytr_m = mx.array(Xtr), mx.array((ytr - ym) / ys)
Xva_m = mx.array(Xva)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64); self.mid = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.gelu(self.inp(x)); h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)

mx.random.seed(3)
net = Net()
opt = optim.SGD(learning_rate=0.0, momentum=0.9)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

# first-step gradient audit (eager)
_, g0 = nn.value_and_grad(net, loss_fn)(net, Xtr_m[:64], ytr_m[:64])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"gradient audit: {len(tree_flatten(g0))} leaves, zero-gradient leaves: {zero or 'none'}")

state = [net.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y, lr):
    opt.learning_rate = lr
    loss, g = nn.value_and_grad(net, loss_fn)(net, x, y)
    opt.update(net, g)
    return loss

def val_rmse():
    return float(mx.sqrt(mx.mean((net(Xva_m) * ys + ym - mx.array(yva)) ** 2)))

print(f"untrained: val RMSE {val_rmse():.2f} years (predict-mean {yva.std():.2f}, noise 1.50)")
cycles = [4, 8, 16]           # epochs per SGDR cycle, doubling
lr_max, lr_min, bs = 0.03, 1e-4, 64
steps_per_epoch = len(Xtr) // bs
t0 = time.time(); ep = 0
for c, n_ep in enumerate(cycles, 1):
    print(f"-- restart {c}: {n_ep} epochs, lr back to {lr_max} --")
    total = n_ep * steps_per_epoch; k = 0
    for e in range(n_ep):
        ep += 1; perm = rng.permutation(len(Xtr)); tot = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * bs:(i + 1) * bs])
            lr = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * k / total)); k += 1
            loss = step(Xtr_m[idx], ytr_m[idx], mx.array(lr, dtype=mx.float32))
            mx.eval(loss, net.parameters(), opt.state)
            tot += loss.item()
        print(f"   epoch {ep:2d}  lr_end {lr:.5f}  train mse(std) {tot / steps_per_epoch:.4f}"
              f"  val RMSE {val_rmse():.3f} yr  {time.time() - t0:5.1f}s")
print(f"done: val RMSE {val_rmse():.3f} years after {ep} epochs")
