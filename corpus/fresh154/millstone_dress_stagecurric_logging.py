"""Millstone dressing log: predict flour fineness (microns) from dressing readings.

Three-stage curriculum: a well-behaved subset first, then worn stones,
then everything including damp grain. Each stage warms its learning rate
up from zero and restarts its own step counter.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s mill: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("mill")

mx.random.seed(1719)

N = 1536
# readings: furrow depth (mm), land width (mm), stone gap (mm), rpm, grain moisture (%),
# stone wear (hours since dressing / 100), feed rate (kg/h / 100)
raw = mx.random.uniform(shape=(N, 7))
furrow = 2.0 + 4.0 * raw[:, 0]
land = 5.0 + 10.0 * raw[:, 1]
gap = 0.1 + 0.6 * raw[:, 2]
rpm = 90.0 + 60.0 * raw[:, 3]
moist = 10.0 + 8.0 * raw[:, 4]
wear = 3.0 * raw[:, 5]
feed = 0.5 + 2.0 * raw[:, 6]

fineness = (180.0 + 260.0 * gap - 0.6 * (rpm - 120.0) + 6.0 * furrow - 2.0 * land
            + 25.0 * wear * wear + 9.0 * mx.maximum(moist - 14.0, 0.0) ** 1.5
            + 18.0 * feed * gap * 4.0)
fineness = fineness + 6.0 * mx.random.normal(shape=(N,))

X = mx.stack([furrow, land, gap, rpm, moist, wear, feed], axis=1)
mu, sd = X.mean(axis=0), X.std(axis=0)
Xn = (X - mu) / sd
y_mu, y_sd = fineness.mean(), fineness.std()
yn = (fineness - y_mu) / y_sd

perm = mx.random.permutation(N)
tr_idx, va_idx = perm[:1280], perm[1280:]

# stage membership masks (on the raw readings)
easy = (wear < 1.0) & (moist < 14.0)
mid = (moist < 14.0)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = Grader()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return ((m(xb) - yb) ** 2).mean()


vg = nn.value_and_grad(model, loss_fn)
opt = optim.Adagrad(learning_rate=0.0)

stages = [("clean", easy, 0.08, 260), ("worn", mid, 0.06, 260), ("damp", None, 0.05, 320)]
WARM = 40
BATCH = 64

tr_np = tr_idx.tolist()
va_np = va_idx.tolist()

def to_um2(v):
    return v * float(y_sd) ** 2

# gradient coverage check at start
_, g0 = vg(model, Xn[tr_idx[:64]], yn[tr_idx[:64]])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
log.info("grad audit: %d tensors, %d with all-zero grad", len(tree_flatten(g0)), len(zero))

for sname, mask, peak, steps in stages:
    if mask is None:
        pool = tr_np
    else:
        mlist = mask.tolist()
        pool = [i for i in tr_np if mlist[i]]
    pool_arr = mx.array(pool)
    vpool = va_np if mask is None else [i for i in va_np if mask.tolist()[i]]
    vx, vy = Xn[mx.array(vpool)], yn[mx.array(vpool)]
    base = float(((vy - yn[pool_arr].mean()) ** 2).mean())
    log.info("stage %s: %d train rows, %d val rows, peak lr %.3f", sname, len(pool), len(vpool), peak)
    for step in range(steps):
        lr = peak * min(1.0, step / WARM)  # exactly 0 on the first step of every stage
        opt.learning_rate = lr
        pick = pool_arr[mx.random.randint(0, len(pool), (BATCH,))]
        loss, grads = vg(model, Xn[pick], yn[pick])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 65 == 0 or step == steps - 1:
            vl = float(loss_fn(model, vx, vy))
            log.info("stage=%s step=%03d lr=%.4f batch=%.1f um^2 val=%.1f um^2 mean-predictor=%.1f um^2 rmse=%.1f um",
                     sname, step, lr, to_um2(float(loss)), to_um2(vl), to_um2(base),
                     math.sqrt(to_um2(vl)))

vx, vy = Xn[va_idx], yn[va_idx]
pred = model(vx) * y_sd + y_mu
truth = vy * y_sd + y_mu
mae = float(mx.abs(pred - truth).mean())
log.info("final hold-out: MAE %.2f um over %d stones (spread of truth %.1f um)", mae, len(va_np), float(truth.std()))
