"""Cheese cave affinage: predict how many days a wheel still needs to ripen
from six cave/wheel readings. Two-stage curriculum: young wheels first, then
the whole cellar (old, harder wheels join, so the loss jumps up before it
settles again). Each stage warms its learning rate up from exactly 0.
The hidden activation is a hard-tanh with a hand-written (straight-through,
leaky) gradient so units never die."""
import logging
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s cave: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("affinage")

rng = np.random.default_rng(11)
N = 2400
age = rng.uniform(5, 120, N)                 # days in cave so far
humid = rng.uniform(85, 98, N)               # % relative humidity
temp = rng.uniform(8, 14, N)                 # deg C
mass = rng.uniform(2.0, 12.0, N)             # kg
turns = rng.poisson(age / 7.0)               # times turned
rind = rng.uniform(0, 1, N)                  # rind bloom score
need = (150 - age) * (1 + 0.04 * (11 - temp)) * (1 + 0.03 * (mass - 7)) \
    - 0.8 * (humid - 92) ** 2 / 4 + 6 * np.sin(turns / 3) + 10 * rind * (age > 60)
need = np.clip(need + rng.normal(0, 3.0, N), 0, None)
X = np.stack([age, humid, temp, mass, turns, rind], 1).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
X = (X - mu) / sd
y = (need / 100.0).astype(np.float32)
perm = rng.permutation(N)
tr, va = perm[:2000], perm[2000:]
young = tr[age[tr] < 50]


@mx.custom_function
def hardtanh_st(x):
    return mx.clip(x, -1.0, 1.0)


@hardtanh_st.vjp
def hardtanh_st_vjp(primals, cotangent, output):
    x = primals  # a single input arrives as the array itself
    inside = (mx.abs(x) <= 1.0).astype(cotangent.dtype)
    return cotangent * (inside + 0.1 * (1 - inside))


class Ripener(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = hardtanh_st(self.l1(x))
        h = hardtanh_st(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(5)
model = Ripener()
Xa, ya = mx.array(X), mx.array(y)


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=0.2).mean()


grad_fn = nn.value_and_grad(model, loss_fn)

# gradient audit before training: every parameter should receive signal
_, g0 = grad_fn(model, Xa[mx.array(tr[:256])], ya[mx.array(tr[:256])])
for k, v in tree_flatten(g0):
    log.info("audit grad |%s| = %.3e", k, mx.linalg.norm(v.reshape(-1)).item())

base_mae = float(np.abs(y[va] - y[tr].mean()).mean() * 100)
stages = [("young", young, 400, 2e-3), ("cellar", tr, 1200, 2e-3)]
t0 = time.time()
for sname, idx, steps, peak in stages:
    warm = 50
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, steps - warm, 1e-4)], [warm])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    idx_mx = mx.array(idx)
    bar_w = 20
    for step in range(steps):
        pick = idx_mx[mx.random.randint(0, len(idx), (256,))]
        loss, grads = grad_fn(model, Xa[pick], ya[pick])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (step + 1) % 100 == 0 or step == 0:
            done = int(bar_w * (step + 1) / steps)
            pred = model(Xa[mx.array(va)])
            mae = mx.abs(pred - ya[mx.array(va)]).mean().item() * 100
            print(f"{sname:6s} |{'#' * done}{'.' * (bar_w - done)}| {step + 1:3d}/{steps} "
                  f"[{time.time() - t0:4.1f}s, lr={opt.learning_rate.item():.2e}, "
                  f"huber={loss.item():.4f}, val_mae={mae:6.2f} d, mean-guess={base_mae:6.2f} d]",
                  flush=True)
    log.info("stage %s finished, %d steps", sname, steps)

pred = np.array(model(Xa[mx.array(va)]))
mae = np.abs(pred - y[va]).mean() * 100
within = (np.abs(pred - y[va]) * 100 < 7).mean() * 100
log.info("final: val MAE %.2f days vs %.2f for the mean guess; %.1f%% of wheels within a week",
         mae, base_mae, within)
