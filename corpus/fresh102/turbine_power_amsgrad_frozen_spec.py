"""Wind-farm SCADA: probabilistic power-curve model for 12 turbines.

Target: 10-minute mean power as a share of rated power (0..1), with noise that
is largest on the steep part of the power curve.  Inputs: hub wind speed, air
density, turbulence intensity, yaw misalignment, plus each turbine's spec-sheet
descriptor (rotor diameter, rated power, hub height, age) held in an
nn.Embedding whose table is loaded from the spec sheet and frozen on purpose.
Heads: mean and log-variance; loss is the Gaussian NLL in nats per record, which
goes below zero once the model is sharper than a unit-width Gaussian.
Optimizer: AMSGrad written by hand over the trainable tree (tree_map).
Log: one JSON object per line.
"""

import json
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

N_TURBINES = 12
N_TRAIN, N_VAL = 16000, 4000
BATCH = 128
STEPS = 2400
REPORT_EVERY = 300
LR, B1, B2, EPS = 2e-3, 0.9, 0.999, 1e-8
EMA_BETA = 0.98


def spec_sheet(rng):
    rotor = rng.uniform(90, 130, N_TURBINES)          # m
    rated = rng.choice([2.0, 2.5, 3.0], N_TURBINES)   # MW
    hub = rng.uniform(80, 120, N_TURBINES)            # m
    age = rng.integers(1, 15, N_TURBINES).astype(float)
    raw = np.stack([rotor, rated, hub, age], axis=1)
    return raw, ((raw - raw.mean(0)) / raw.std(0)).astype(np.float32)


def simulate(n, raw, rng):
    tid = rng.integers(0, N_TURBINES, n)
    rotor, rated, hub, age = raw[tid].T
    ws = rng.weibull(2.0, n) * 8.5 * (hub / 100.0) ** 0.14
    rho = rng.normal(1.225, 0.03, n)
    ti = rng.uniform(0.05, 0.25, n)
    yaw = rng.normal(0, 6, n)
    # rated speed falls with a bigger rotor per MW; old machines lose a little
    v_rated = 11.5 * (rated / 2.5) ** (1 / 3) * (110 / rotor) ** (2 / 3)
    x = np.clip((ws - 3.0) / (v_rated - 3.0), 0, None)
    share = np.where(x < 1, x ** 3, 1.0) * (rho / 1.225) * np.cos(np.deg2rad(yaw)) ** 2
    share *= 1 - 0.004 * age
    share = np.where(ws > 25, 0.0, np.clip(share, 0, 1))
    ramp = (x > 0.1) & (x < 1.0)
    sd = 0.01 + 0.06 * ramp * (1 + 2 * ti)
    y = np.clip(share + sd * rng.standard_normal(n), -0.05, 1.05)
    feats = np.stack([ws, rho, ti, yaw], axis=1).astype(np.float32)
    return tid.astype(np.int32), feats, y.astype(np.float32)


class PowerCurve(nn.Module):
    def __init__(self, spec_table, hidden=64):
        super().__init__()
        self.spec = nn.Embedding(N_TURBINES, spec_table.shape[1])
        self.spec.weight = mx.array(spec_table)
        self.body = nn.Sequential(
            nn.Linear(4 + spec_table.shape[1], hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
        )
        self.mean = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, tid, feats):
        h = self.body(mx.concatenate([feats, self.spec(tid)], axis=-1))
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -12.0, 4.0)


def gaussian_nll(model, tid, feats, y):
    mu, logvar = model(tid, feats)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + np.log(2 * np.pi)))


class AMSGrad:
    def __init__(self, params):
        self.m = tree_map(mx.zeros_like, params)
        self.v = tree_map(mx.zeros_like, params)
        self.vmax = tree_map(mx.zeros_like, params)
        self.t = 0

    def step(self, params, grads, lr):
        self.t += 1
        self.m = tree_map(lambda m, g: B1 * m + (1 - B1) * g, self.m, grads)
        self.v = tree_map(lambda v, g: B2 * v + (1 - B2) * g * g, self.v, grads)
        self.vmax = tree_map(mx.maximum, self.vmax, self.v)
        c1 = 1 - B1 ** self.t
        return tree_map(lambda p, m, vm: p - lr * (m / c1) / (mx.sqrt(vm) + EPS),
                        params, self.m, self.vmax)

    def arrays(self):
        return [self.m, self.v, self.vmax]


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    raw, table = spec_sheet(rng)
    tr = simulate(N_TRAIN, raw, rng)
    va = simulate(N_VAL, raw, rng)
    f_mu, f_sd = tr[1].mean(0), tr[1].std(0)
    tr_tid, tr_x, tr_y = mx.array(tr[0]), mx.array((tr[1] - f_mu) / f_sd), mx.array(tr[2])
    va_tid, va_x, va_y = mx.array(va[0]), mx.array((va[1] - f_mu) / f_sd), mx.array(va[2])

    model = PowerCurve(table)
    model.spec.freeze()          # spec-sheet descriptors are facts, not weights to fit
    mx.eval(model.parameters())
    frozen_before = np.array(model.spec.weight)

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    emit(event="start", records_train=N_TRAIN, records_val=N_VAL, params_trainable=n_train,
         params_frozen=n_all - n_train, optimizer="amsgrad(hand-written)", lr=LR)

    vg = nn.value_and_grad(model, gaussian_nll)
    opt = AMSGrad(model.trainable_parameters())

    ema, ema_steps = 0.0, 0
    t0 = time.perf_counter()
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        loss, grads = vg(model, tr_tid[idx], tr_x[idx], tr_y[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
            emit(event="grad_check", leaves=len(flat), zero_grad_leaves=zero,
                 has_spec_grad=any(k.startswith("spec") for k, _ in flat))
        model.update(opt.step(model.trainable_parameters(), grads, LR))
        mx.eval(model.parameters(), opt.arrays(), loss)

        ema = EMA_BETA * ema + (1 - EMA_BETA) * loss.item()
        ema_steps += 1
        if step % REPORT_EVERY == 0 or step == 1:
            mu, logvar = model(va_tid, va_x)
            val_nll = gaussian_nll(model, va_tid, va_x, va_y).item()
            mae_kw = (mx.abs(mu - va_y).mean().item()) * 2500.0   # per 2.5 MW nameplate
            sd = mx.exp(0.5 * logvar)
            cover = (mx.abs(va_y - mu) <= 1.2816 * sd).mean().item()
            emit(event="report", step=step,
                 train_nll_ema=round(ema / (1 - EMA_BETA ** ema_steps), 4),
                 val_nll_nats=round(val_nll, 4), val_mae_kw_at_2p5mw=round(mae_kw, 1),
                 val_80pct_interval_coverage=round(100 * cover, 1),
                 secs=round(time.perf_counter() - t0, 1))

    drift = float(np.abs(np.array(model.spec.weight) - frozen_before).max())
    emit(event="done", steps=STEPS, spec_table_max_change=drift)


if __name__ == "__main__":
    main()
