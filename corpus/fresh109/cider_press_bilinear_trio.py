"""Cider mill: juice yield (L per 100 kg of apples) from fruit and press settings.

Three PressNet members are trained one after another, each from scratch with its
own seed and its own AdaDelta optimiser; the ensemble mean is scored at the end.
Log records are buffered in a MemoryHandler and only flushed when a member is
done, so nothing appears while a member trains.
"""
import logging
import logging.handlers
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

# ---------------------------------------------------------------- logging
_out = logging.StreamHandler(sys.stdout)
_out.setFormatter(logging.Formatter("%(levelname)-5s %(name)s: %(message)s"))
buffer = logging.handlers.MemoryHandler(capacity=500, flushLevel=logging.CRITICAL, target=_out)
log = logging.getLogger("cidermill")
log.setLevel(logging.INFO)
log.addHandler(buffer)
log.propagate = False


# ---------------------------------------------------------------- data
def make_pressings(n, rng):
    brix = rng.normal(12.5, 1.5, n)            # sugar
    firm = rng.normal(7.0, 1.2, n)              # flesh firmness, kg/cm2
    size = rng.normal(70.0, 8.0, n)             # mm
    stored = rng.uniform(0, 90, n)              # days in store
    pressure = rng.uniform(2.0, 8.0, n)         # bar
    minutes = rng.uniform(10, 60, n)
    enzyme = rng.uniform(0.0, 1.0, n)           # pectinase dose, ml per 100 kg
    soft = (stored / 90.0) * (9.0 - firm) / 3.0
    y = (58.0 + 1.1 * (brix - 12.5)
         + 9.0 * np.tanh((pressure - 4.0) / 2.0) * (1.0 - 0.5 * soft)
         + 4.0 * np.log1p(minutes / 20.0)
         + 5.0 * enzyme * soft
         - 0.08 * (size - 70.0) ** 2 / 10.0
         + rng.normal(0, 1.2, n))
    fruit = np.stack([brix, firm, size, stored], 1).astype(np.float32)
    press = np.stack([pressure, minutes, enzyme], 1).astype(np.float32)
    return fruit, press, y.astype(np.float32)


rng = np.random.default_rng(2024)
f_tr, p_tr, y_tr = make_pressings(6000, rng)
f_va, p_va, y_va = make_pressings(1500, rng)
f_mu, f_sd = f_tr.mean(0), f_tr.std(0)
p_mu, p_sd = p_tr.mean(0), p_tr.std(0)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())

Ftr = mx.array((f_tr - f_mu) / f_sd)
Ptr = mx.array((p_tr - p_mu) / p_sd)
Ytr = mx.array((y_tr - y_mu) / y_sd)
Fva = mx.array((f_va - f_mu) / f_sd)
Pva = mx.array((p_va - p_mu) / p_sd)


# ---------------------------------------------------------------- model
class PressNet(nn.Module):
    def __init__(self, width=16, mix=24):
        super().__init__()
        self.fruit = nn.Linear(4, width)
        self.press = nn.Linear(3, width)
        self.mix = nn.Bilinear(width, width, mix)
        self.skip = nn.Linear(2 * width, mix)
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(mix, mix), nn.SiLU(), nn.Linear(mix, 1))

    def __call__(self, f, p):
        a = nn.silu(self.fruit(f))
        b = nn.silu(self.press(p))
        h = self.mix(a, b) + self.skip(mx.concatenate([a, b], axis=-1))
        return self.head(h).squeeze(-1)


def mse(model, f, p, y):
    return nn.losses.mse_loss(model(f, p), y)


def val_rmse_litres(pred_std):
    pred = np.array(pred_std) * y_sd + y_mu
    return float(np.sqrt(np.mean((pred - y_va) ** 2)))


def train_member(seed, epochs=10, batch=64):
    mx.random.seed(seed)
    model = PressNet()
    mx.eval(model.parameters())
    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
    step = nn.value_and_grad(model, mse)
    mlog = log.getChild(f"member{seed}")
    nparams = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    mlog.info("fresh PressNet, %d parameters, AdaDelta(rho=0.95)", nparams)

    order_rng = np.random.default_rng(seed)
    n = Ytr.shape[0]
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        perm = order_rng.permutation(n)
        tot, cnt = 0.0, 0
        for k in range(0, n - batch + 1, batch):
            idx = mx.array(perm[k:k + batch])
            loss, grads = step(model, Ftr[idx], Ptr[idx], Ytr[idx])
            if ep == 1 and k == 0:
                flat = tree_flatten(grads)
                nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
                mlog.info("first-step gradient check: %d/%d arrays non-zero", nz, len(flat))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        rmse = val_rmse_litres(model(Fva, Pva))
        mlog.info("epoch %2d  train_mse_std %.4f  val_rmse %.3f L/100kg  %.1fs",
                  ep, tot / cnt, rmse, time.perf_counter() - t0)
    return model


log.info("pressings: %d train / %d valid, yield mean %.1f sd %.2f L/100kg",
         len(y_tr), len(y_va), y_mu, y_sd)
log.info("predict-the-mean valid RMSE %.3f L/100kg", float(np.sqrt(np.mean((y_va - y_mu) ** 2))))
buffer.flush()

members = []
for seed in (11, 12, 13):
    members.append(train_member(seed))
    buffer.flush()   # the member's whole log appears at once

preds = np.stack([np.array(m(Fva, Pva)) * y_sd + y_mu for m in members])
ens = preds.mean(0)
spread = preds.std(0).mean()
for seed, p in zip((11, 12, 13), preds):
    log.info("member%d valid RMSE %.3f", seed, float(np.sqrt(np.mean((p - y_va) ** 2))))
log.info("ensemble valid RMSE %.3f L/100kg; mean member spread %.3f L/100kg (noise sd 1.2)",
         float(np.sqrt(np.mean((ens - y_va) ** 2))), spread)
buffer.flush()
buffer.close()
