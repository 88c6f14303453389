"""Aerial ropeway maintenance: predict the number of broken wires a magnetic
rope-test (MRT) run will find in a haul-rope splice, from seven inspection
readings. Poisson regression with a small MLP; two curriculum stages
(young ropes first, then the full fleet including old, heavily cycled ropes).
Logs one JSON object per line through `logging`."""
import json
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("mrt")
mx.random.seed(2024)


LOG_FACT = mx.concatenate([mx.zeros((1,)), mx.cumsum(mx.log(mx.arange(1, 60).astype(mx.float32)))])


def make_splices(n, max_age):
    age = mx.random.uniform(0.2, max_age, (n,))                  # years in service
    cycles = age * mx.random.uniform(0.6, 1.4, (n,))              # 1e5 bending cycles
    sheave_ratio = mx.random.uniform(60.0, 110.0, (n,))           # D/d
    tension = mx.random.uniform(0.15, 0.35, (n,))                 # fraction of MBL
    lube = mx.random.uniform(0.0, 1.0, (n,))                      # lubrication score
    tuck_len = mx.random.uniform(0.8, 1.6, (n,))                  # tuck length / spec
    humidity = mx.random.uniform(0.3, 0.95, (n,))
    log_rate = (-1.2 + 0.55 * mx.log1p(cycles) * (1.0 + 2.0 * tension)
                - 0.012 * (sheave_ratio - 85.0) - 0.6 * lube
                - 0.5 * (tuck_len - 1.2) + 0.7 * humidity * (1 - lube))
    rate = mx.exp(log_rate)
    # Poisson sample via inversion on a small support (counts stay < 60)
    u = mx.random.uniform(shape=(n, 1))
    k = mx.arange(60)[None, :].astype(mx.float32)
    logpmf = k * mx.log(rate)[:, None] - rate[:, None] - LOG_FACT[None, :]
    cdf = mx.cumsum(mx.exp(logpmf), axis=1)
    y = mx.sum(cdf < u, axis=1).astype(mx.float32)
    x = mx.stack([mx.log1p(age), mx.log1p(cycles), (sheave_ratio - 85) / 15, (tension - 0.25) / 0.06,
                  lube - 0.5, tuck_len - 1.2, humidity - 0.6], axis=1)
    return x, y


class WireCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)          # log-rate


def poisson_nll(log_rate, y):
    # full negative log-likelihood in nats per splice, including log(y!)
    return mx.mean(mx.exp(log_rate) - y * log_rate + LOG_FACT[y.astype(mx.int32)])


model = WireCounter()
mx.eval(model.parameters())
warm = optim.linear_schedule(0.0, 2e-3, 150)               # starts at exactly 0
decay = optim.cosine_decay(2e-3, 1500, end=1e-4)
optimizer = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [150]), weight_decay=1e-3)

state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, lambda m: poisson_nll(m(x), y))(model)
    optimizer.update(model, grads)
    return loss


# gradient audit before training: every tensor must receive a signal
xa, ya = make_splices(256, 3.0)
_, g0 = nn.value_and_grad(model, lambda m: poisson_nll(m(xa), ya))(model)
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
log.info(json.dumps({"audit": "grad", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

stages = [("young", 3.0, 400), ("fleet", 14.0, 900)]
x_val_f, y_val_f = make_splices(2000, 14.0)
BATCH = 128
best = None
for stage, max_age, max_steps in stages:
    x_tr, y_tr = make_splices(6000, max_age)
    x_va, y_va = make_splices(1000, max_age)
    base = poisson_nll(mx.log(mx.mean(y_tr)) * mx.ones_like(y_va), y_va).item()   # constant-rate baseline
    best_val, best_params, bad, patience = math.inf, None, 0, 4
    for it in range(1, max_steps + 1):
        idx = mx.random.randint(0, x_tr.shape[0], (BATCH,))
        loss = step(x_tr[idx], y_tr[idx])
        mx.eval(loss, model.parameters(), optimizer.state)
        if it == 1 or it % 50 == 0:
            val = poisson_nll(model(x_va), y_va).item()
            mae = mx.mean(mx.abs(mx.exp(model(x_va)) - y_va)).item()
            lr = optimizer.learning_rate.item()
            log.info(json.dumps({"stage": stage, "it": it, "lr": round(lr, 6), "train_nll": round(loss.item(), 4),
                                 "val_nll": round(val, 4), "const_nll": round(base, 4), "mae_wires": round(mae, 3)}))
            if val < best_val - 1e-3:
                best_val, bad = val, 0
                best_params = tree_map(lambda p: mx.array(p), model.parameters())
            else:
                bad += 1
                if bad >= patience:
                    log.info(json.dumps({"stage": stage, "event": "early_stop", "it": it, "best_val_nll": round(best_val, 4)}))
                    break
    model.update(best_params)
    mx.eval(model.parameters())
    log.info(json.dumps({"stage": stage, "event": "restored_best", "val_nll": round(poisson_nll(model(x_va), y_va).item(), 4)}))

fleet = poisson_nll(model(x_val_f), y_val_f).item()
const = poisson_nll(mx.log(mx.mean(y_val_f)) * mx.ones_like(y_val_f), y_val_f).item()
log.info(json.dumps({"summary": "fleet_holdout", "nll": round(fleet, 4), "const_nll": round(const, 4),
                     "mean_wires": round(mx.mean(y_val_f).item(), 2),
                     "mae_wires": round(mx.mean(mx.abs(mx.exp(model(x_val_f)) - y_val_f)).item(), 3)}))
