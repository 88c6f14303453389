"""Bell foundry: predict how far a freshly cast bell's hum partial lands from
its nominal (in cents) from casting measurements, so the tuner knows how much
metal to turn off.

Two models in turn:
  1. a wide "master" network trained on the foundry's records;
  2. a small "shop-floor" network that re-uses the master's first layer as a
     fixed feature extractor (copied in, then frozen) and trains only a thin
     head, half on the records and half on the master's predictions.

The student runs with a linear warm-up that starts at exactly 0.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s foundry: %(message)s")
log = logging.getLogger("foundry")


# ---------------------------------------------------------------- data
def cast_records(n, rng):
    diam = rng.uniform(0.3, 1.6, n)            # mouth diameter, m
    thick = rng.uniform(0.06, 0.11, n)          # sound-bow thickness / diameter
    tin = rng.uniform(0.19, 0.25, n)            # tin share of the bronze
    pour_t = rng.normal(1120, 25, n)            # pouring temperature, C
    cool_h = rng.lognormal(3.2, 0.35, n)        # hours in the mould
    mould_damp = rng.uniform(0, 1, n)           # loam moisture index
    profile = rng.integers(0, 3, n)             # 0 light, 1 medium, 2 heavy profile
    off = (
        55 * np.tanh(4 * (thick - 0.085) / 0.03)
        - 30 * (tin - 0.22) / 0.03
        + 0.18 * (pour_t - 1120)
        - 12 * np.log(cool_h / 25)
        + 20 * mould_damp ** 2
        + np.array([-15.0, 0.0, 18.0])[profile]
        + 8 * np.sin(3 * diam)
    )
    off = off + rng.normal(0, 6.0, n)           # casting noise, cents
    x = np.stack([diam, thick, tin, pour_t, np.log(cool_h), mould_damp,
                  (profile == 0).astype(float), (profile == 2).astype(float)], 1)
    return x.astype(np.float32), off.astype(np.float32)


rng = np.random.default_rng(31)
x_all, y_all = cast_records(7000, rng)
n_tr = 5600
mu, sd = x_all[:n_tr].mean(0), x_all[:n_tr].std(0)
y_mu, y_sd = y_all[:n_tr].mean(), y_all[:n_tr].std()
xs = (x_all - mu) / sd
ys = (y_all - y_mu) / y_sd
x_tr, y_tr = mx.array(xs[:n_tr]), mx.array(ys[:n_tr])
x_va, y_va = mx.array(xs[n_tr:]), mx.array(ys[n_tr:])
va_cents = y_all[n_tr:]
climatology_mse = float(np.mean((va_cents - y_mu) ** 2))
log.info("records: %d train / %d held out, spread %.1f cents, noise sd 6.0 cents",
         n_tr, len(va_cents), y_sd)


# ---------------------------------------------------------------- models
class Master(nn.Module):
    def __init__(self, d_in=8, width=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def features(self, x):
        return nn.silu(self.inp(x))

    def __call__(self, x):
        h = self.features(x)
        h = nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


class ShopFloor(nn.Module):
    def __init__(self, d_in=8, width=96, head=12):
        super().__init__()
        self.inp = nn.Linear(d_in, width)     # will hold the master's weights
        self.squeeze = nn.Linear(width, head)
        self.out = nn.Linear(head, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.squeeze(h))
        return self.out(h).squeeze(-1)


def skill(model):
    """Skill score vs always predicting the training mean (1 = perfect)."""
    pred = np.array(model(x_va)) * y_sd + y_mu
    mse = float(np.mean((pred - va_cents) ** 2))
    return 1.0 - mse / climatology_mse, mse ** 0.5


def first_step_audit(name, model, loss_fn, *args):
    _, g = nn.value_and_grad(model, loss_fn)(model, *args)
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    log.info("%s: %d trainable leaves get a gradient at step 1, all-zero: %s",
             name, len(leaves), zero or "none")


def run_epochs(name, model, opt, loss_fn, batch_args, epochs, bs, seed):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb, tb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb, tb)
        opt.update(model, grads)
        return loss

    order_rng = np.random.default_rng(seed)
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = order_rng.permutation(n_tr)
        tot, cnt = 0.0, 0
        for i in range(0, n_tr - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss = step(x_tr[idx], y_tr[idx], batch_args[idx])
            mx.eval(state, loss)
            tot += loss.item()
            cnt += 1
        sk, rmse = skill(model)
        log.info("%s epoch %2d | train loss %.4f | held-out skill %.1f%% | rmse %.2f cents | lr %.2e | %.1fs",
                 name, ep, tot / cnt, 100 * sk, rmse, float(opt.learning_rate), time.time() - t0)


# ---------------------------------------------------------------- 1) master
mx.random.seed(4)
master = Master()
mx.eval(master.parameters())


def master_loss(m, xb, yb, _unused):
    return nn.losses.mse_loss(m(xb), yb)


sk0, r0 = skill(master)
log.info("master untrained | skill %.1f%% | rmse %.2f cents", 100 * sk0, r0)
first_step_audit("master", master, master_loss, x_tr[:64], y_tr[:64], y_tr[:64])
opt_m = optim.Adam(learning_rate=2e-3)
run_epochs("master", master, opt_m, master_loss, y_tr, epochs=8, bs=64, seed=11)

# the master's predictions become soft targets, computed once
master.eval()
soft_tr = master(x_tr)
mx.eval(soft_tr)

# ---------------------------------------------------------------- 2) student
mx.random.seed(5)
student = ShopFloor()
student.inp.update(master.inp.parameters())     # copy the feature extractor
student.inp.freeze()                            # ... and keep it fixed
mx.eval(student.parameters())
frozen_before = np.array(student.inp.weight)


def student_loss(m, xb, yb, tb):
    pred = m(xb)
    return 0.5 * nn.losses.mse_loss(pred, yb) + 0.5 * nn.losses.mse_loss(pred, tb)


n_trainable = sum(v.size for _, v in tree_flatten(student.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(student.parameters()))
log.info("shop-floor model: %d of %d parameters trainable (first layer frozen)", n_trainable, n_all)
sk0, r0 = skill(student)
log.info("shop-floor untrained | skill %.1f%% | rmse %.2f cents", 100 * sk0, r0)
first_step_audit("shop-floor", student, student_loss, x_tr[:64], y_tr[:64], soft_tr[:64])

warm = 120
steps_per_epoch = n_tr // 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm),
     optim.cosine_decay(4e-3, 10 * steps_per_epoch - warm, 2e-4)],
    [warm])
opt_s = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
run_epochs("shop-floor", student, opt_s, student_loss, soft_tr, epochs=10, bs=64, seed=12)

drift = float(np.abs(np.array(student.inp.weight) - frozen_before).max())
log.info("frozen first layer max change over training: %.1e (expected 0)", drift)
sk_m, r_m = skill(master)
sk_s, r_s = skill(student)
log.info("done | master skill %.1f%% (rmse %.2f) | shop-floor skill %.1f%% (rmse %.2f) | noise floor rmse 6.0",
         100 * sk_m, r_m, 100 * sk_s, r_s)
