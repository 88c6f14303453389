"""Skiers arriving at a chairlift queue per 5-minute window: Poisson regression.

The run is split into two sessions the way it happens on a laptop that goes to
sleep: session 1 trains, writes a checkpoint (weights + optimizer state + step)
into a scratch folder and stops; session 2 builds everything fresh, restores
the checkpoint and carries on.  The log-rate goes through a capped exponential
written as an mx.custom_function whose backward pass keeps a gradient past the
cap (otherwise a saturated window would stop learning).
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CAP = 8.0


@mx.custom_function
def capped_exp(x):
    return mx.exp(mx.minimum(x, CAP))


@capped_exp.vjp
def capped_exp_vjp(primals, cotangent, output):
    # d/dx exp(x) = exp(x) below the cap; past it pass the capped slope through
    return (cotangent * output,)


def make_windows(n, seed):
    r = np.random.default_rng(seed)
    hour = r.uniform(8.5, 16.5, n)
    snow_cm = r.gamma(1.5, 6.0, n)
    temp = r.normal(-6, 5, n)
    weekend = (r.random(n) < 2 / 7).astype(np.float64)
    lifts_open = r.integers(3, 9, n).astype(np.float64)
    wind = r.gamma(2.0, 8.0, n)
    morning = np.exp(-((hour - 10.0) / 1.2) ** 2)
    lunch = np.exp(-((hour - 12.5) / 0.6) ** 2)
    afternoon = np.exp(-((hour - 14.3) / 1.0) ** 2)
    log_rate = (2.4 + 0.9 * morning - 0.6 * lunch + 0.5 * afternoon
                + 0.35 * np.log1p(snow_cm) + 0.55 * weekend - 0.012 * (temp + 6) ** 2 / 4
                - 0.08 * (lifts_open - 6) - 0.018 * np.maximum(wind - 25, 0))
    y = r.poisson(np.exp(log_rate)).astype(np.float32)
    X = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  (hour - 12.5) / 2.3, np.log1p(snow_cm), temp, weekend,
                  lifts_open, wind], 1).astype(np.float32)
    return X, y, np.exp(log_rate)


Xtr, ytr, _ = make_windows(16000, 1)
Xte, yte, rate_te = make_windows(3000, 2)
m, s = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - m) / s, (Xte - m) / s
Xtr_mx, ytr_mx = mx.array(Xtr), mx.array(ytr)
Xte_mx, yte_mx = mx.array(Xte), mx.array(yte)


class QueueRate(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def log_rate(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + 2.5

    def __call__(self, x):
        return capped_exp(self.log_rate(x))


def poisson_nll(model, x, y):
    eta = model.log_rate(x)
    lam = capped_exp(eta)
    return mx.mean(lam - y * mx.minimum(eta, CAP))


def lgamma_term(y):
    return np.mean([math.lgamma(v + 1) for v in y])


LG_TE = lgamma_term(yte)


def deviance(y, mu):
    y = np.asarray(y, np.float64)
    mu = np.asarray(mu, np.float64)
    t = np.where(y > 0, y * np.log(np.maximum(y, 1e-12) / mu), 0.0)
    return 2 * np.sum(t - (y - mu))


NULL_DEV = deviance(yte, np.full_like(yte, ytr.mean()))
ORACLE_DEV = deviance(yte, rate_te)


def evaluate(model):
    mu = np.array(model(Xte_mx))
    nll = float(np.mean(mu - yte * np.log(mu))) + LG_TE
    d2 = 100 * (1 - deviance(yte, mu) / NULL_DEV)
    return nll, d2


TOTAL_STEPS = 2400
SESSION1_STOP = 1100
BATCH = 128
REPORT = 200


def schedule():
    return optim.cosine_decay(3e-3, TOTAL_STEPS, 5e-5)


def save_checkpoint(folder, model, opt, step, rng_state):
    model.save_weights(os.path.join(folder, "queue_rate.safetensors"))
    mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "progress.json"), "w") as f:
        json.dump({"step": step, "numpy_rng": rng_state}, f)


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "queue_rate.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.safetensors")).items()))
    with open(os.path.join(folder, "progress.json")) as f:
        meta = json.load(f)
    return meta["step"], meta["numpy_rng"]


def run_session(name, folder, resume, stop_at):
    mx.random.seed(0 if not resume else 123)   # a fresh init that the checkpoint must overwrite
    model = QueueRate()
    opt = optim.Adam(learning_rate=schedule())
    mx.eval(model.parameters())
    step, rng = 0, np.random.default_rng(7)
    if resume:
        step, rng_state = load_checkpoint(folder, model, opt)
        rng = np.random.default_rng()
        rng.bit_generator.state = rng_state
        mx.eval(model.parameters(), opt.state)
        nll, d2 = evaluate(model)
        print(f"[{name}] restored step {step} from {os.path.basename(folder)}/ "
              f"(lr now {opt.learning_rate.item():.2e}); test nll {nll:.4f}  D2 {d2:.2f}%")
    else:
        nll, d2 = evaluate(model)
        print(f"[{name}] untrained: test nll {nll:.4f} nats/window  D2 {d2:.2f}%")

    loss_and_grad = nn.value_and_grad(model, poisson_nll)
    window, t0 = [], time.time()
    while step < stop_at:
        idx = mx.array(rng.integers(0, len(Xtr), BATCH))
        loss, grads = loss_and_grad(model, Xtr_mx[idx], ytr_mx[idx])
        if step == 0:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"[{name}] first step: {len(flat)} gradient leaves, zero: {dead}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(loss.item())
        if step % REPORT == 0:
            nll, d2 = evaluate(model)
            print(f"[{name}] step {step:5d}  lr {opt.learning_rate.item():.2e}  "
                  f"train {np.mean(window):.4f} (no lgamma)  test nll {nll:.4f} nats/window  "
                  f"D2 {d2:6.2f}%  {time.time() - t0:5.1f}s")
            window = []
    return model, opt, step, rng


with tempfile.TemporaryDirectory() as ckpt:
    print(f"windows: train {len(Xtr)}  test {len(Xte)}  mean arrivals {ytr.mean():.1f} skiers / 5 min")
    print(f"D2 = share of null deviance explained (higher is better); "
          f"the true rate reaches D2 {100 * (1 - ORACLE_DEV / NULL_DEV):.2f}%")
    model, opt, step, rng = run_session("session 1", ckpt, resume=False, stop_at=SESSION1_STOP)
    save_checkpoint(ckpt, model, opt, step, rng.bit_generator.state)
    print(f"[session 1] checkpoint written at step {step}: "
          f"{sorted(os.listdir(ckpt))}")
    del model, opt
    model, opt, step, _ = run_session("session 2", ckpt, resume=True, stop_at=TOTAL_STEPS)
    nll, d2 = evaluate(model)
    oracle_nll = float(np.mean(rate_te - yte * np.log(rate_te))) + LG_TE
    print(f"finished at step {step}: test nll {nll:.4f} vs true-rate nll {oracle_nll:.4f}; D2 {d2:.2f}%")
