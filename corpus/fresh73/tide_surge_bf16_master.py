"""Storm-surge residual at a tide gauge: bf16 forward/backward, float32 master weights."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)

def make(n):
    wind_u = rng.normal(0, 8, n)            # onshore wind component m/s
    wind_v = rng.normal(0, 8, n)
    press = rng.normal(1012, 12, n)         # hPa
    hours = rng.uniform(0, 24 * 14.77, n)   # spring-neap cycle
    fetch = rng.uniform(20, 300, n)         # km
    surge = (0.0009 * np.sign(wind_u) * wind_u ** 2 * np.sqrt(fetch / 100)
             + 0.01 * (1013 - press)
             + 0.05 * np.cos(2 * math.pi * hours / (24 * 14.77)) * np.clip(wind_u, 0, None) / 8
             + rng.normal(0, 0.04, n))
    X = np.stack([wind_u / 8, wind_v / 8, (press - 1012) / 12,
                  np.sin(2 * math.pi * hours / 354.5), np.cos(2 * math.pi * hours / 354.5),
                  (fetch - 160) / 80], 1).astype(np.float32)
    return X, (surge / 0.15).astype(np.float32)[:, None]

Xtr, ytr = make(16000)
Xva, yva = make(2000)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

class SurgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x)

master = SurgeNet()                     # float32 master copy, owned by the optimizer
mx.eval(master.parameters())
work = SurgeNet()                       # bf16 compute copy

def loss_fn(params32, x, y):
    work.update(tree_map(lambda p: p.astype(mx.bfloat16), params32))
    pred = work(x.astype(mx.bfloat16)).astype(mx.float32)
    return nn.losses.mse_loss(pred, y)

grad_fn = mx.value_and_grad(loss_fn)
opt = optim.Adam(learning_rate=1.5e-3)

def val_cm(params):
    work.update(tree_map(lambda p: p.astype(mx.bfloat16), params))
    pred = work(Xva.astype(mx.bfloat16)).astype(mx.float32)
    err = (pred - yva) * 15.0            # cm
    return math.sqrt(mx.mean(err ** 2).item()), mx.mean(mx.abs(err)).item()

print(f"gauge records: {Xtr.shape[0]} train, {Xva.shape[0]} held out; compute dtype bfloat16, master dtype float32")
print(f"predict-zero rms miss: {math.sqrt(mx.mean((yva * 15) ** 2).item()):.2f} cm; noise floor ~4.0 cm")

params = master.parameters()
B, steps = 128, 2000
t0 = time.time()
window = []
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, Xtr.shape[0], B))
    loss, grads = grad_fn(params, Xtr[idx], ytr[idx])
    if step == 1:
        leaves = tree_flatten(grads)
        nz = sum(1 for _, g in leaves if mx.abs(g).max().item() > 0)
        dt = {str(g.dtype) for _, g in leaves}
        print(f"first step: {nz} of {len(leaves)} gradient leaves non-zero, gradient dtype {dt}")
    master.update(params)
    opt.update(master, grads)
    params = master.parameters()
    mx.eval(params, opt.state, loss)
    window.append(loss.item())
    if step % 250 == 0 or step == 1:
        rms, mae = val_cm(params)
        print(f"after {step} updates the recent training loss is {np.mean(window):.4f} "
              f"and the held-out surge miss is {rms:.2f} cm rms / {mae:.2f} cm mean "
              f"({time.time() - t0:.1f} s so far)")
        window = []
print(f"master weights still {params['l1']['weight'].dtype}; finished in {time.time() - t0:.1f} s")
