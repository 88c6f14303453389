"""Sea-ice concentration retrieval from passive-microwave brightness temperatures.

5-fold cross-validation of a small MLP, SGD+Nesterov with SGDR warm restarts (each
cycle starts from lr = 0 and warms up), compiled training step, logging output.
"""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s seaice | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("seaice")

mx.random.seed(184)
N = 4000
# true concentration: mixture of open water, marginal ice zone, pack ice
k = mx.random.key(7)
ka, kb, kc, kd = mx.random.split(k, 4)
u = mx.random.uniform(shape=(N,), key=ka)
conc = mx.where(u < 0.3, 0.0, mx.where(u > 0.65, 1.0, mx.random.uniform(shape=(N,), key=kb)))
conc = mx.clip(conc + 0.03 * mx.random.normal((N,), key=kc), 0.0, 1.0)
t_air = -25.0 * conc + 2.0 + 3.0 * mx.random.normal((N,), key=kd)          # deg C
# tie points (K) for channels 19V, 19H, 37V, 37H; ice emissivity drifts with air temperature
water = mx.array([185.0, 115.0, 208.0, 145.0])
ice = mx.array([252.0, 237.0, 245.0, 230.0])
tb = conc[:, None] * (ice + 0.4 * t_air[:, None]) + (1 - conc[:, None]) * water
tb = tb + 2.5 * mx.random.normal(tb.shape, key=ka)
# polarisation / gradient ratios as in NASA-Team, plus raw channels
pr = (tb[:, 0] - tb[:, 1]) / (tb[:, 0] + tb[:, 1])
gr = (tb[:, 2] - tb[:, 0]) / (tb[:, 2] + tb[:, 0])
X = mx.concatenate([(tb - 220.0) / 30.0, (pr[:, None] - 0.1) * 10, gr[:, None] * 20, t_air[:, None] / 15.0], axis=1)
Y = conc
mx.eval(X, Y)

FOLDS, CYCLES, CYCLE_STEPS, BATCH, PEAK_LR = 5, 4, 150, 64, 0.08
fold_id = mx.arange(N) % FOLDS


class Retrieval(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return mx.sigmoid(self.out(nn.tanh(self.l2(nn.tanh(self.l1(x)))))).squeeze(-1)


def sgdr_lr(step):
    """Linear warm-up from exactly 0 over 10 steps, then cosine to 0; restarts every cycle."""
    s = step % CYCLE_STEPS
    if s < 10:
        return PEAK_LR * s / 10
    return 0.5 * PEAK_LR * (1 + math.cos(math.pi * (s - 10) / (CYCLE_STEPS - 10)))


results = []
for fold in range(FOLDS):
    tr_idx = mx.array([i for i in range(N) if i % FOLDS != fold])
    va_idx = mx.array([i for i in range(N) if i % FOLDS == fold])
    Xtr, Ytr, Xva, Yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    clim = Ytr.mean()
    base_rmse = 100 * mx.sqrt(mx.mean((Yva - clim) ** 2)).item()

    model = Retrieval(X.shape[1])
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state]

    def loss_fn(xb, yb):
        return mx.mean((model(xb) - yb) ** 2)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, grads)
        return loss

    if fold == 0:
        _, g0 = nn.value_and_grad(model, loss_fn)(Xtr[:BATCH], Ytr[:BATCH])
        from mlx.utils import tree_flatten
        zero = [n for n, g in tree_flatten(g0) if mx.abs(g).sum().item() == 0]
        log.info("grad audit: %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), zero or "none")

    log.info("fold %d/%d  train=%d val=%d  climatology RMSE %.2f %%", fold + 1, FOLDS, Xtr.shape[0], Xva.shape[0], base_rmse)
    gstep = 0
    for cycle in range(CYCLES):
        run = 0.0
        for s in range(CYCLE_STEPS):
            opt.learning_rate = sgdr_lr(gstep)
            idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(state, loss)
            run += loss.item()
            gstep += 1
            if s in (0, 8, CYCLE_STEPS - 1):
                log.info("  fold %d cycle %d step %3d  lr %.4f  batch mse %.5f", fold + 1, cycle + 1, s, float(opt.learning_rate), loss.item())
        pred = model(Xva)
        rmse = 100 * mx.sqrt(mx.mean((pred - Yva) ** 2)).item()
        edge = 100 * mx.mean((pred > 0.15) == (Yva > 0.15)).item()
        log.info("  fold %d cycle %d done: mean mse %.5f | val RMSE %.2f %% (clim %.2f %%) | ice-edge agreement %.1f %%",
                 fold + 1, cycle + 1, run / CYCLE_STEPS, rmse, base_rmse, edge)
    results.append((rmse, edge, base_rmse))

m_rmse = sum(r[0] for r in results) / FOLDS
m_edge = sum(r[1] for r in results) / FOLDS
m_base = sum(r[2] for r in results) / FOLDS
log.info("CV summary: RMSE %.2f %% vs climatology %.2f %% (skill %.1f %%), ice-edge agreement %.1f %%",
         m_rmse, m_base, 100 * (1 - m_rmse / m_base), m_edge)
