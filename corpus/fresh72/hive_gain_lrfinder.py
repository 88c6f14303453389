"""Daily beehive weight change (kg/day) with a heteroscedastic Gaussian head.

First an LR range test on a throw-away model (its loss blows up at the end of
the sweep on purpose), then the real run from fresh weights at lr = best/10.
The loss is a Gaussian NLL in nats, so it goes negative once the model is sure.
"""
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s hive: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hive")

rng = np.random.default_rng(11)
N = 9000
doy = rng.uniform(0, 365, N)
tmax = 8 + 14 * np.sin(2 * np.pi * (doy - 105) / 365) + rng.normal(0, 3, N)
rain = rng.exponential(2.0, N) * (rng.random(N) < 0.35)
strength = rng.uniform(0.2, 1.0, N)          # frames of bees, scaled
flow = np.exp(-((doy - 160) / 35) ** 2) + 0.5 * np.exp(-((doy - 235) / 20) ** 2)   # nectar flow
forage = np.clip((tmax - 12) / 12, 0, 1) * np.exp(-rain / 3)
mu = 3.2 * strength * flow * forage - 0.08 - 0.05 * strength
sigma = 0.05 + 0.45 * strength * flow * forage       # noisy on good flow days
y = mu + sigma * rng.normal(size=N)
X = np.stack([np.sin(2 * np.pi * doy / 365), np.cos(2 * np.pi * doy / 365),
              (tmax - 12) / 8, np.log1p(rain), strength * 2 - 1], 1).astype(np.float32)
y = y.astype(np.float32)
Xtr, ytr, Xva, yva = mx.array(X[:7500]), mx.array(y[:7500]), mx.array(X[7500:]), mx.array(y[7500:])


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.mean(h)[:, 0], mx.clip(self.logvar(h)[:, 0], -9.0, 4.0)


def nll(model, x, t):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (t - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


def batches(bs, seed):
    r = np.random.default_rng(seed)
    while True:
        perm = r.permutation(7500)
        for i in range(0, 7500 - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            yield Xtr[idx], ytr[idx]


# ---------------- LR range test ----------------
mx.random.seed(0)
probe = HiveNet()
opt = optim.Adam(learning_rate=1e-5)
step_fn = nn.value_and_grad(probe, nll)
lrs = np.geomspace(1e-5, 3.0, 200)
smooth, best, hist = None, float("inf"), []
it = batches(64, 1)
log.info("lr range test: %d steps, lr %.0e -> %.0e", len(lrs), lrs[0], lrs[-1])
for k, lr in enumerate(lrs):
    opt.learning_rate = float(lr)
    xb, tb = next(it)
    loss, g = step_fn(probe, xb, tb)
    opt.update(probe, g)
    mx.eval(probe.parameters(), opt.state, loss)
    lv = loss.item()
    smooth = lv if smooth is None else 0.9 * smooth + 0.1 * lv
    hist.append((lr, smooth))
    best = min(best, smooth)
    if k % 25 == 0:
        log.info("  sweep k=%3d lr=%.2e smoothed_nll=%.3f", k, lr, smooth)
    if not math.isfinite(smooth) or smooth > best + 4.0:
        log.info("  sweep stopped at k=%d lr=%.2e: smoothed nll %.3f (best %.3f), diverging as expected",
                 k, lr, smooth, best)
        break
best_lr = float(min(hist, key=lambda p: p[1])[0])
lr0 = best_lr / 10
log.info("lowest smoothed nll at lr=%.2e -> training lr=%.2e", best_lr, lr0)
del probe, opt

# ---------------- real run from fresh weights ----------------
mx.random.seed(1)
model = HiveNet()
opt = optim.Adam(learning_rate=optim.cosine_decay(lr0, 3000, lr0 / 20))
step_fn = nn.value_and_grad(model, nll)

const_nll = 0.5 * (math.log(2 * math.pi * float(np.var(y[:7500]))) + 1)
log.info("constant Gaussian baseline nll=%.3f nats", const_nll)
it = batches(128, 2)
t0, run = time.time(), []
for step in range(1, 3001):
    xb, tb = next(it)
    loss, g = step_fn(model, xb, tb)
    if step == 1:
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
        log.info("grad check: %d leaves, %d all-zero %s", len(leaves), len(zero), zero)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step == 1 or step % 300 == 0:
        m, lv = model(Xva)
        va = nll(model, Xva, yva).item()
        rmse = float(mx.sqrt(mx.mean((m - yva) ** 2)))
        cover = float(mx.mean((mx.abs(yva - m) < 1.96 * mx.exp(0.5 * lv)).astype(mx.float32)))
        log.info("step %4d lr=%.2e train_nll=%+.3f val_nll=%+.3f val_rmse=%.3f kg 95%%-cover=%.1f%% (%.1fs)",
                 step, opt.learning_rate.item(), float(np.mean(run[-300:])), va, rmse, 100 * cover,
                 time.time() - t0)
log.info("done")
