import os, tempfile, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

# hydroponic grow bench: nitrate uptake (log mg/plant/day) from 6 channel readings
rng = np.random.default_rng(7)
N = 4096
ec = rng.uniform(0.8, 2.6, N)           # electrical conductivity mS/cm
ph = rng.uniform(5.2, 6.8, N)
water_t = rng.uniform(16, 28, N)
ppfd = rng.uniform(150, 650, N)          # light
root_age = rng.uniform(3, 40, N)         # days
flow = rng.uniform(0.5, 2.5, N)          # L/min
logu = (0.9 * np.log(ec) - 0.6 * (ph - 5.9) ** 2 + 0.035 * (water_t - 22)
        - 0.0012 * (water_t - 22) ** 3 / 3 + 0.9 * np.log(ppfd / 300)
        + 0.25 * np.log(root_age) + 0.15 * np.tanh(flow - 1.2) - 0.8)
logu += rng.normal(0, 0.12, N)
X = np.stack([ec, ph, water_t, ppfd, root_age, flow], 1).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
X = (X - mu) / sd
y = logu.astype(np.float32)[:, None]
Xtr, ytr, Xva, yva = mx.array(X[:3400]), mx.array(y[:3400]), mx.array(X[3400:]), mx.array(y[3400:])

class Uptake(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
    def __call__(self, x):
        return self.net(x)

def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb, reduction="mean")

def evaluate(model):
    p = model(Xva)
    return (mx.mean((p - yva) ** 2)).item()

base = float(np.mean((y[3400:] - y[:3400].mean()) ** 2))
print(f"baseline (predict train mean) val mse {base:.4f}")

model = Uptake()
mx.eval(model.parameters())
warm = 40
total = 360
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

micro = 32
ckdir = tempfile.mkdtemp()

def run(model, opt, vg, start, stop, accum):
    order_rng = np.random.default_rng(100 + start)
    for step in range(start, stop):
        idx = order_rng.integers(0, 3400, micro * accum)
        acc, tot = None, 0.0
        for k in range(accum):
            j = mx.array(idx[k * micro:(k + 1) * micro])
            l, g = vg(model, Xtr[j], ytr[j])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            tot += l
        acc = tree_map(lambda a: a / accum, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, tot)
        if step % 40 == 0 or step == stop - 1:
            print(f"step {step:4d} accum {accum} lr {opt.learning_rate.item():.5f} "
                  f"train mse {tot.item() / accum:.4f} val mse {evaluate(model):.4f}")

# stage 1: accumulate 4 micro-batches per update
run(model, opt, vg, 0, 180, 4)
model.save_weights(os.path.join(ckdir, "uptake.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step 180, val mse {evaluate(model):.4f}")

# resume into fresh objects, stage 2: accumulate 8 micro-batches per update
from mlx.utils import tree_unflatten
model2 = Uptake()
model2.load_weights(os.path.join(ckdir, "uptake.safetensors"))
opt2 = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
vg2 = nn.value_and_grad(model2, loss_fn)
print(f"resumed, val mse {evaluate(model2):.4f}")
run(model2, opt2, vg2, 180, total, 8)
v = evaluate(model2)
print(f"final val mse {v:.4f} vs baseline {base:.4f} (noise floor ~{0.12**2:.4f}) ratio {v / base:.3f}")
