# Wave buoy: classify sea state (Beaufort band 0..5) from 6 buoy readings.
# Compiled train step with model/optimizer state as compile inputs/outputs;
# the training loss is reported as a bias-corrected exponential moving average.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(21)
def make(n):
    wind = rng.gamma(2.0, 4.0, n)                 # m/s
    hs = 0.02 * wind ** 2 + rng.gamma(2, 0.15, n)  # significant wave height
    period = 3 + 0.35 * wind + rng.normal(0, 1, n)
    gust = wind * (1.2 + 0.1 * rng.random(n))
    swell = rng.normal(0, 1, n)
    noise = rng.normal(0, 1, n)                   # uninformative channel
    score = 0.5 * wind + 1.5 * hs + 0.1 * swell + rng.logistic(0, 0.5, n)
    band = np.clip(np.digitize(score, [2, 4, 6, 8, 11]), 0, 5)
    x = np.stack([wind, hs, period, gust, swell, noise], 1)
    return x.astype(np.float32), band.astype(np.int32)

x_tr, y_tr = make(12000); x_te, y_te = make(2000)
m, s = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - m) / s; x_te = (x_te - m) / s
Xte, Yte = mx.array(x_te), mx.array(y_te)

mx.random.seed(0)
model = nn.Sequential(nn.Linear(6, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 6))
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

def loss_fn(x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

grad_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = grad_fn(x, y)
    opt.update(model, g)
    return loss

def test_miss_pct():
    return 100.0 * float(mx.mean(mx.argmax(model(Xte), axis=1) != Yte))

counts = np.bincount(y_tr, minlength=6)
print(f"sea-state data · train {len(y_tr)} · test {len(y_te)} · band shares {np.round(100*counts/counts.sum(),1).tolist()} %")
# eager gradient audit on one batch before compiling anything
_, g0 = grad_fn(mx.array(x_tr[:128]), mx.array(y_tr[:128]))
flat = tree_flatten(g0)
print(f"gradient audit · {len(flat)} leaves · zero {[k for k, v in flat if float(mx.abs(v).max()) == 0]}")
print(f"step      0 · ema_ce     -      · test miss {test_miss_pct():5.1f} % (lower is better; majority-band miss {100*(1-counts.max()/counts.sum()):.1f} %)")

ema, beta, BS, STEPS = 0.0, 0.98, 128, 3000
t0 = time.time(); order = rng.permutation(len(y_tr)); cur = 0
for it in range(1, STEPS + 1):
    if cur + BS > len(order):
        order = rng.permutation(len(y_tr)); cur = 0
    idx = order[cur:cur + BS]; cur += BS
    loss = train_step(mx.array(x_tr[idx]), mx.array(y_tr[idx]))
    mx.eval(loss, state)
    ema = beta * ema + (1 - beta) * loss.item()
    if it in (1, 50) or it % 500 == 0:
        print(f"step {it:6d} · ema_ce {ema / (1 - beta ** it):.4f} nats · test miss {test_miss_pct():5.1f} % · {time.time()-t0:5.1f}s")
print(f"finished {STEPS} compiled steps in {time.time()-t0:.1f}s")
