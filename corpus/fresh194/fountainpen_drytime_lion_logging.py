# Fountain-pen ink drying time (seconds until a thumb swipe leaves no smear),
# regressed from nine bench-log readings. Lion + warmup from exactly 0,
# compiled step, early stopping that restores the best weights.
import logging, math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s nibbench: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("nibbench")

rng = np.random.default_rng(11)


def bench_log(n):
    gsm = rng.uniform(60, 120, n)            # paper weight
    coated = rng.random(n) < 0.4             # coated (Tomoe River-ish) paper
    nib = rng.choice([0.4, 0.6, 0.8, 1.1, 1.5], n)   # nib width mm
    flow = rng.uniform(0.5, 1.5, n)          # wetness of the pen
    rh = rng.uniform(25, 85, n)              # relative humidity %
    temp = rng.uniform(14, 30, n)            # deg C
    shading = rng.uniform(0, 1, n)           # dye load / sheen
    lube = rng.uniform(0, 1, n)              # surfactant
    air = rng.uniform(0, 2, n)               # air speed m/s
    wet = nib * flow * (1 + 0.5 * shading)
    absorb = np.where(coated, 0.25, 1.0) * (120 / gsm) * (1 + 0.6 * lube)
    secs = 6 + 28 * wet / absorb * np.exp(0.025 * (rh - 50)) * np.exp(-0.04 * (temp - 22)) / (1 + 0.5 * air)
    secs = secs * np.exp(rng.normal(0, 0.08, n))
    X = np.stack([gsm, coated, nib, flow, rh, temp, shading, lube, air], 1).astype(np.float32)
    return X, secs.astype(np.float32)


Xtr, ytr = bench_log(6000)
Xva, yva = bench_log(1500)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
ylog_mu, ylog_sd = np.log(ytr).mean(), np.log(ytr).std()
prep = lambda X: mx.array((X - mu) / sd)
Xtr_m, Xva_m = prep(Xtr), prep(Xva)
ttr = mx.array((np.log(ytr) - ylog_mu) / ylog_sd)


class DryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


model = DryNet()
mx.eval(model.parameters())
EPOCHS, BS = 40, 128
steps_per_epoch = len(Xtr) // BS
warm = steps_per_epoch * 2
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, warm),
     optim.cosine_decay(3e-4, EPOCHS * steps_per_epoch - warm, 1e-5)], [warm])
opt = optim.Lion(learning_rate=sched, weight_decay=0.05)


def loss_fn(x, t):
    return nn.losses.huber_loss(model(x), t, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, t):
    loss, grads = nn.value_and_grad(model, loss_fn)(x, t)
    opt.update(model, grads)
    return loss


def seconds(pred_std):
    return np.exp(np.array(pred_std) * ylog_sd + ylog_mu)


# sanity: every parameter receives gradient
_, g0 = nn.value_and_grad(model, loss_fn)(Xtr_m[:256], ttr[:256])
gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
log.info("grad audit: %d tensors, min |g|_1 = %.3e (%s)", len(gn), min(gn.values()), min(gn, key=gn.get))

base_mae = float(np.abs(yva - np.median(ytr)).mean())
best, best_params, bad, patience = float("inf"), None, 0, 6
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss = step(Xtr_m[idx], ttr[idx])
        mx.eval(state, loss)
        tot += loss.item()
    pv = seconds(model(Xva_m))
    mae = float(np.abs(pv - yva).mean())
    mape = float((np.abs(pv - yva) / yva).mean() * 100)
    lr_now = float(opt.learning_rate)
    log.info("epoch %02d lr=%.2e huber=%.4f val_mae=%.2f s (median-guess %.2f s) mape=%.1f%%",
             ep, lr_now, tot / steps_per_epoch, mae, base_mae, mape)
    if mae < best - 1e-3:
        best, bad = mae, 0
        best_params = tree_map(lambda a: a, model.parameters())
    else:
        bad += 1
        if bad >= patience:
            log.info("no val improvement for %d epochs, stopping at epoch %d", patience, ep)
            break

model.update(best_params)
mx.eval(model.parameters())
pv = seconds(model(Xva_m))
log.info("restored best: val_mae=%.2f s, mape=%.1f%% vs median-guess %.2f s (%.1fs wall)",
         float(np.abs(pv - yva).mean()), float((np.abs(pv - yva) / yva).mean() * 100), base_mae, time.time() - t0)
