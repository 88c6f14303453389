# Bisque kiln ramp forecasting: predict the temperature rise over the next 10
# minutes from the last 12 thermocouple readings.  Stage "kiln_a" trains the
# whole network; stage "kiln_b" moves to a second kiln with a different element
# response and refits only the output head (trunk frozen).  Nothing is printed
# while training; the run report is written at the end as an INI document.
import configparser
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

WIN = 12
NOISE = 2.0  # degC, thermocouple noise on the target


def simulate(rng, n, gain, lag):
    """Synthetic firing segments: a ramp with setpoint changes and element lag."""
    t0 = rng.uniform(100, 900, size=(n, 1))
    rate = rng.uniform(0.5, 3.0, size=(n, 1)) * gain
    k = np.arange(WIN + 1)[None, :]
    wobble = 4.0 * np.sin(k / (2.0 + lag) + rng.uniform(0, 6.28, size=(n, 1)))
    temps = t0 + rate * k * 10 + wobble + rng.normal(0, 0.5, size=(n, WIN + 1))
    x = temps[:, :WIN]
    # next-10-minute rise: current ramp rate with a lagged response + noise
    slope = (x[:, -1] - x[:, -4]) / 3.0
    y = slope * (1.0 - 0.15 * lag) + 0.004 * (x[:, -1] - 500) * gain + rng.normal(0, NOISE, size=n)
    feats = np.concatenate([x - x[:, -1:], x[:, -1:] / 1000.0], axis=1)
    return feats.astype(np.float32), y.astype(np.float32), slope.astype(np.float32)


class RampNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(WIN + 1, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def run_stage(model, name, data, epochs, peak_lr, warmup, rng, report):
    xtr, ytr, xva, yva, slope_va = data
    steps_per_epoch = len(xtr) // 128
    total = epochs * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warmup), optim.cosine_decay(peak_lr, total - warmup, 1e-5)],
        [warmup],
    )
    opt = optim.Adam(learning_rate=sched)
    lg = nn.value_and_grad(model, mse)
    sec = report[name] = {}
    sec["trainable_leaves"] = str(len(tree_flatten(model.trainable_parameters())))
    sec["persistence_mae"] = f"{np.abs(yva - slope_va).mean():.3f}"
    sec["zero_mae"] = f"{np.abs(yva).mean():.3f}"
    xv, yv = mx.array(xva), mx.array(yva)
    sec["start_val_mse"] = f"{mse(model, xv, yv).item():.3f}"
    first = None
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(xtr))
        run = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * 128:(i + 1) * 128])
            loss, g = lg(model, mx.array(xtr)[idx], mx.array(ytr)[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            if first is None:
                first = loss.item()
                sec["first_step_lr"] = f"{float(sched(0)):.6f}"
            run += loss.item()
        pred = model(xv)
        vm = nn.losses.mse_loss(pred, yv).item()
        mae = mx.abs(pred - yv).mean().item()
        sec[f"epoch_{ep:02d}"] = f"lr={opt.learning_rate.item():.5f} train_mse={run / steps_per_epoch:.3f} val_mse={vm:.3f} val_mae={mae:.3f}"
    sec["first_batch_mse"] = f"{first:.3f}"
    sec["noise_floor_mse"] = f"{NOISE ** 2:.3f}"
    sec["seconds"] = f"{time.time() - t0:.1f}"


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    report = {}

    xa, ya, sa = simulate(rng, 12000, gain=1.0, lag=0.0)
    model = RampNet()
    mx.eval(model.parameters())
    data_a = (xa[:10000], ya[:10000], xa[10000:], ya[10000:], sa[10000:])
    run_stage(model, "kiln_a", data_a, epochs=8, peak_lr=2e-3, warmup=150, rng=rng, report=report)

    trunk_before = [v for _, v in tree_flatten(model.trunk.parameters())]
    model.trunk.freeze()
    xb, yb, sb = simulate(rng, 3000, gain=1.6, lag=2.0)
    data_b = (xb[:2000], yb[:2000], xb[2000:], yb[2000:], sb[2000:])
    run_stage(model, "kiln_b", data_b, epochs=10, peak_lr=5e-3, warmup=30, rng=rng, report=report)
    drift = max(mx.abs(a - b).max().item() for a, b in zip(trunk_before, [v for _, v in tree_flatten(model.trunk.parameters())]))
    report["kiln_b"]["trunk_drift"] = f"{drift:.1e}"

    cp = configparser.ConfigParser()
    cp["run"] = {"window": str(WIN), "target": "degC rise over next 10 min", "loss": "mse (degC^2)"}
    for k, v in report.items():
        cp[k] = v
    cp.write(sys.stdout)


if __name__ == "__main__":
    main()
