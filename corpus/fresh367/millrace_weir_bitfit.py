# Mill-race weir level forecasting: float model, then mixed-bit packing,
# then bias-only recovery tuning of the packed model with gradient accumulation.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

def make(n):
    x = rng.normal(size=(n, 32)).astype(np.float32)
    y = (0.9 * np.tanh(x[:, 0] + 0.5 * x[:, 1]) + 0.4 * x[:, 2] * x[:, 3]
         - 0.3 * np.sin(2 * x[:, 4]) + 0.2 * x[:, 5] ** 2 - 0.2
         + 0.05 * rng.normal(size=n)).astype(np.float32)
    return mx.array(x), mx.array(y[:, None])

Xtr, Ytr = make(8000)
Xva, Yva = make(2000)

class Gauge(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(32, 128)
        self.mid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)
    def __call__(self, x):
        return self.out(nn.silu(self.mid(nn.silu(self.inp(x)))))

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

def val_mse(m):
    return loss_fn(m, Xva, Yva).item()

model = Gauge()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
print(f"stage A  float  untrained val_mse={val_mse(model):.4f}")
for ep in range(1, 13):
    perm = mx.array(rng.permutation(8000))
    for i in range(0, 8000, 100):
        idx = perm[i:i + 100]
        l, g = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    if ep % 4 == 0:
        print(f"stage A  float  epoch {ep:2d} val_mse={val_mse(model):.4f}")
float_mse = val_mse(model)

bits = {"inp": 8, "mid": 2, "out": 4}
for name in ["inp", "mid", "out"]:
    setattr(model, name, nn.QuantizedLinear.from_linear(getattr(model, name), group_size=32, bits=bits[name]))
packed_mse = val_mse(model)
print(f"stage B  packed bits={bits} val_mse={packed_mse:.4f} (float {float_mse:.4f})")

model.freeze()
model.unfreeze(keys=["bias"], strict=False)
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage C  trainable leaves={len(tree_flatten(model.trainable_parameters()))} values={n_tr}")
codes0 = {k: np.array(v) for k, v in tree_flatten(model.parameters()) if not k.endswith(".bias")}

sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, 100, 1e-5)], [20])
opt2 = optim.Lion(learning_rate=sched)
step2 = nn.value_and_grad(model, loss_fn)
accum = 4
upd = 0
for ep in range(1, 7):
    perm = mx.array(rng.permutation(8000))
    acc, run = None, 0.0
    for j, i in enumerate(range(0, 8000, 100)):
        idx = perm[i:i + 100]
        l, g = step2(model, Xtr[idx], Ytr[idx])
        acc = g if acc is None else nn.utils.tree_map(lambda a, b: a + b, acc, g)
        run += l.item()
        if (j + 1) % accum == 0:
            lr_now = opt2.learning_rate.item()
            opt2.update(model, nn.utils.tree_map(lambda a: a / accum, acc))
            mx.eval(model.parameters(), opt2.state)
            acc, upd = None, upd + 1
    print(f"stage C  bias-only epoch {ep} updates={upd} lr={lr_now:.2e} train_mse={run / 80:.4f} "
          f"val_mse={val_mse(model):.4f} gap_to_float={val_mse(model) / float_mse:.2f}x")

drift = max(float(np.abs(np.array(v) - codes0[k]).max()) for k, v in tree_flatten(model.parameters()) if k in codes0)
print(f"packed weights/scales drift={drift:.1f}  final val_mse={val_mse(model):.4f} "
      f"packed-before={packed_mse:.4f} float={float_mse:.4f}  {time.time() - t0:.1f}s")
