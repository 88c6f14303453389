# Apiary honey-yield regression: an LR range test first, then the real run
# from fresh weights with a one-cycle schedule picked from the sweep.
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)-7s %(message)s", datefmt="%H:%M:%S")
log_find = logging.getLogger("lrfind")
log_fit = logging.getLogger("fit")

rng = np.random.default_rng(11)

def make_hives(n):
    colony = rng.uniform(10, 60, n)          # thousand bees
    forage = rng.uniform(0, 1, n)            # share of flowering land within 3 km
    rain = rng.gamma(2.0, 30.0, n)           # mm during the flow
    temp = rng.normal(22, 4, n)              # mean flow temperature
    varroa = rng.uniform(0, 8, n)            # mites per 100 bees
    age = rng.integers(0, 4, n).astype(np.float64)  # queen age, years
    y = (0.9 * colony * forage * np.exp(-((temp - 24) / 7) ** 2)
         * (1 - 0.07 * varroa) * np.exp(-rain / 250) * (1 - 0.08 * age)
         + rng.normal(0, 1.5, n))            # kg of honey
    X = np.stack([colony, forage, np.log1p(rain), temp, varroa, age], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make_hives(6000)
Xva, yva = make_hives(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_n, yva_n = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def batches(bs, seed):
    r = np.random.default_rng(seed)
    while True:
        p = r.permutation(Xtr.shape[0])
        for i in range(0, len(p) - bs + 1, bs):
            idx = mx.array(p[i:i + bs])
            yield Xtr[idx], ytr_n[idx]

# ---- 1. LR range test: exponential sweep 1e-5 -> 3, smoothed loss; it blows up at the end by design
mx.random.seed(0)
probe = HiveNet()
mx.eval(probe.parameters())
opt = optim.SGD(learning_rate=1e-5, momentum=0.9)
vg = nn.value_and_grad(probe, loss_fn)
lo, hi, n_sweep = 1e-5, 3.0, 200
smooth, best, lrs, sm = None, float("inf"), [], []
it = batches(64, 1)
for i in range(n_sweep):
    lr = lo * (hi / lo) ** (i / (n_sweep - 1))
    opt.learning_rate = lr
    x, y = next(it)
    loss, g = vg(probe, x, y)
    opt.update(probe, g)
    mx.eval(probe.parameters(), opt.state, loss)
    l = loss.item()
    smooth = l if smooth is None else 0.9 * smooth + 0.1 * l
    s = smooth / (1 - 0.9 ** (i + 1))
    lrs.append(lr); sm.append(s)
    if i % 25 == 0 or not math.isfinite(s):
        log_find.info(f"lr {lr:.2e}  smoothed mse {s:.4f}")
    if not math.isfinite(s) or s > 4 * best:
        log_find.info(f"stop at lr {lr:.2e}: smoothed mse {s:.3g} > 4x best {best:.4f}")
        break
    best = min(best, s)
k = int(np.argmin(sm))
peak = lrs[k] / 10
log_find.info(f"minimum smoothed mse {sm[k]:.4f} at lr {lrs[k]:.2e}; one-cycle peak lr = {peak:.2e}")
del probe, opt

# ---- 2. real run from fresh weights
mx.random.seed(1)
model = HiveNet()
mx.eval(model.parameters())
steps = 1800
sched = optim.join_schedules([optim.linear_schedule(peak / 25, peak, 500),
                              optim.cosine_decay(peak, steps - 500, peak / 1000)], [500])
opt = optim.SGD(learning_rate=sched, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

it = batches(64, 2)
x, y = next(it)
_, g0 = vg(model, x, y)
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
log_fit.info(f"gradient check: {len(leaves)} leaves, {len(zero)} all-zero {zero}")
base_rmse = float(np.sqrt(((yva - ym) ** 2).mean()))
log_fit.info(f"predict-the-mean valid rmse {base_rmse:.2f} kg (noise sd 1.50 kg)")

def valid():
    p = model(Xva) * ys + ym
    err = p - mx.array(yva)
    return math.sqrt(mx.mean(err ** 2).item()), mx.mean(mx.abs(err)).item()

t0 = time.time(); run = []
for step in range(1, steps + 1):
    x, y = next(it)
    loss, g = vg(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 200 == 0:
        rmse, mae = valid()
        log_fit.info(f"step {step:4d}  lr {sched(mx.array(step - 1)).item():.2e}  train mse(std) {np.mean(run):.4f}  "
                     f"valid rmse {rmse:.2f} kg  mae {mae:.2f} kg  {time.time() - t0:.1f}s")
        run = []
rmse, mae = valid()
log_fit.info(f"done: valid rmse {rmse:.2f} kg vs mean-baseline {base_rmse:.2f} kg")
