# Ice-rink resurfacing log: predict skate glide friction (mu x 1000) after a Zamboni pass.
# 4-fold cross-validation, fresh net per fold, SGD+momentum with cosine warm restarts,
# a hand-written soft-sign activation with its own VJP, Python logging output.
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("rink")

rng = np.random.default_rng(5)
N = 1600
water_c = rng.uniform(55, 75, N)        # flood water temperature
blade_mm = rng.uniform(0.2, 1.2, N)     # shave depth
speed = rng.uniform(4, 12, N)           # machine km/h
ice_c = rng.uniform(-9, -2, N)          # slab temperature
rh = rng.uniform(30, 80, N)             # arena humidity %
mins = rng.exponential(25, N)           # minutes since pass
mu = (6.0 + 0.35 * (ice_c + 5.5) ** 2 - 0.04 * (water_c - 65) + 1.8 * np.tanh(blade_mm - 0.6)
      + 0.015 * (rh - 55) + 0.9 * np.log1p(mins / 10) - 0.08 * (speed - 8) ** 2 / 4
      + rng.normal(0, 0.35, N))
X = np.stack([(water_c - 65) / 6, (blade_mm - 0.7) / 0.3, (speed - 8) / 2.3,
              (ice_c + 5.5) / 2, (rh - 55) / 14, np.log1p(mins) - 3], 1).astype(np.float32)
y = mu.astype(np.float32)


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals
    return cotangent / mx.square(1 + mx.abs(x))


class GlideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 48)
        self.b = nn.Linear(48, 48)
        self.c = nn.Linear(48, 1)

    def __call__(self, x):
        return self.c(softsign(self.b(softsign(self.a(x)))))[:, 0]


def mse(m, xb, yb):
    return mx.mean(mx.square(m(xb) - yb))


# check the custom vjp against autodiff of the same formula
xt = mx.linspace(-3, 3, 13)
g_custom = mx.grad(lambda v: softsign(v).sum())(xt)
g_auto = mx.grad(lambda v: (v / (1 + mx.abs(v))).sum())(xt)
log.info("vjp audit max|diff|=%.2e", float(mx.max(mx.abs(g_custom - g_auto))))

CYCLE = 60
def sgdr(step):
    t = step % CYCLE
    return 0.002 + 0.5 * (0.05 - 0.002) * (1 + mx.cos(mx.pi * t / CYCLE))

folds = np.array_split(rng.permutation(N), 4)
table = []
for k in range(4):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    ymu, ysd = y[tr].mean(), y[tr].std()
    mx.random.seed(100 + k)
    net = GlideNet()
    opt = optim.SGD(learning_rate=sgdr, momentum=0.9)
    vg = nn.value_and_grad(net, mse)
    if k == 0:
        _, g = vg(net, mx.array(X[tr[:128]]), mx.array((y[tr[:128]] - ymu) / ysd))
        zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0]
        log.info("grad reach: %d tensors, zero=%s", len(tree_flatten(g)), zero)
    Xv, Yv = mx.array(X[va]), y[va]
    step = 0
    for ep in range(1, 13):
        perm = rng.permutation(tr)
        run = 0.0
        for i in range(0, len(perm) - 63, 64):
            b = perm[i:i + 64]
            l, g = vg(net, mx.array(X[b]), mx.array((y[b] - ymu) / ysd))
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, l)
            run += float(l)
            step += 1
        pred = np.array(net(Xv)) * ysd + ymu
        rmse = float(np.sqrt(np.mean((pred - Yv) ** 2)))
        if ep % 3 == 0 or ep == 1:
            log.info("fold=%d ep=%02d step=%d lr=%.4f train_mse(z)=%.4f val_rmse=%.3f mu-units",
                     k + 1, ep, step, float(opt.learning_rate), run / (len(perm) // 64), rmse)
    base = float(np.sqrt(np.mean((Yv - ymu) ** 2)))
    table.append((k + 1, rmse, base))

print("fold | val_rmse | mean-predictor rmse | skill %")
for k, r, b in table:
    print(f"  {k}  |  {r:6.3f}  |  {b:6.3f}  | {100 * (1 - r / b):5.1f}")
rs = np.array([t[1] for t in table]); bs = np.array([t[2] for t in table])
print(f"mean |  {rs.mean():6.3f}  |  {bs.mean():6.3f}  | {100 * (1 - rs.mean() / bs.mean()):5.1f}")
