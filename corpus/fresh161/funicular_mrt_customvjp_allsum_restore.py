# Funicular haul-rope inspection: estimate loss of metallic cross-section (LMA, %)
# from a 24-sample magnetic-flux (MRT) window recorded as the rope passes the
# inspection head. Synthetic rope: broken-wire spikes + a broad wear dip + drift.
# MLP with a hand-written custom-VJP activation, data-parallel style gradient
# all_sum through mx.distributed (one process here), AdamW with cosine decay,
# early stopping that restores the best weights.
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s mrt | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("mrt")

world = mx.distributed.init()
log.info("distributed group: rank %d of %d", world.rank(), world.size())

rng = np.random.default_rng(161)
L = 24
pos = np.linspace(0, 1, L)


def rope_windows(n):
    lma = rng.gamma(2.0, 1.6, n)                       # % cross-section lost
    width = rng.uniform(0.08, 0.25, n)
    centre = rng.uniform(0.25, 0.75, n)
    dip = -lma[:, None] * np.exp(-0.5 * ((pos[None] - centre[:, None]) / width[:, None]) ** 2) / 3.0
    n_lf = rng.poisson(0.4 * lma)                      # local faults track wear
    spikes = np.zeros((n, L))
    for i in np.nonzero(n_lf)[0]:
        spikes[i, rng.integers(0, L, n_lf[i])] += rng.normal(0, 1.2, n_lf[i])
    drift = rng.normal(0, 0.5, (n, 1)) + rng.normal(0, 0.3, (n, 1)) * pos[None]
    x = dip + spikes + drift + rng.normal(0, 0.15, (n, L))
    return x.astype(np.float32), lma.astype(np.float32)


xtr, ytr = rope_windows(6000)
xva, yva = rope_windows(1200)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ymu, ysd = ytr.mean(), ytr.std()
baseline_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))


@mx.custom_function
def ssp(x):
    # shifted softplus: log(1 + e^x) - log 2
    return mx.logaddexp(x, mx.zeros_like(x)) - math.log(2.0)


@ssp.vjp
def ssp_vjp(primals, cotangent, output):
    x = primals  # single input: the array itself
    return cotangent * mx.sigmoid(x)


# audit: custom VJP against autodiff of the same formula
xa = mx.array(rng.normal(0, 3, 1000).astype(np.float32))
g_custom = mx.grad(lambda t: ssp(t).sum())(xa)
g_auto = mx.grad(lambda t: (mx.logaddexp(t, mx.zeros_like(t)) - math.log(2.0)).sum())(xa)
log.info("vjp check: max|custom - autodiff| = %.2e", float(mx.abs(g_custom - g_auto).max()))


class MRTNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(L, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(ssp(self.l2(ssp(self.l1(x)))))[:, 0]


model = MRTNet()
mx.eval(model.parameters())
EPOCHS, BS = 40, 100
steps_per_epoch = len(ytr) // BS
sched = optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch, 1e-4)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), (y - ymu) / ysd)


vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, mx.array(xtr[:256]), mx.array(ytr[:256]))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("params with zero grad at init: %s", zero if zero else "none")


def val_rmse():
    pred = model(mx.array(xva)) * ysd + ymu
    return float(mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2)))


best, best_params, bad, PATIENCE = float("inf"), None, 0, 5
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(ytr))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        grads = tree_map(lambda g: mx.distributed.all_sum(g) / world.size(), grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    rmse = val_rmse()
    r2 = 1.0 - rmse ** 2 / baseline_rmse ** 2
    tag = ""
    if rmse < best - 1e-4:
        best, bad = rmse, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        tag = " *"
    else:
        bad += 1
    log.info("epoch %02d lr %.2e train_mse(z) %.4f | val rmse %.3f %%LMA  R2 %.3f  "
             "(predict-mean rmse %.3f)%s", epoch, float(opt.learning_rate), tot / steps_per_epoch,
             rmse, r2, baseline_rmse, tag)
    if bad >= PATIENCE:
        log.info("no improvement for %d epochs, stopping at epoch %d", PATIENCE, epoch)
        break

model.update(best_params)
mx.eval(model.parameters())
log.info("restored best weights: val rmse %.3f %%LMA (R2 %.3f)", val_rmse(),
         1.0 - val_rmse() ** 2 / baseline_rmse ** 2)
