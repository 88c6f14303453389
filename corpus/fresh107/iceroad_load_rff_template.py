"""Safe truck load on a winter ice road.

Regress the safe axle load (tonnes) a lake-ice crossing can carry from six
field readings.  The first layer is a fixed random-Fourier-feature map that we
deliberately do NOT train (it is frozen), only the small head on top of it is
learned.  Learning rate warms up linearly from exactly 0.
"""
import math
import time
from string import Template

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.set_default_device(mx.cpu)

LINE = Template("[$tag] step=$step lr=$lr huber=$loss val_mae=${mae}t within_1t=${pct}%")
INFO = Template("[$tag] $msg")


def make_crossings(n, rng):
    black = rng.uniform(20, 80, n)            # clear (black) ice, cm
    white_frac = rng.uniform(0.0, 0.6, n)     # share of white / snow ice on top
    snow = rng.uniform(0, 40, n)              # snow cover, cm
    air = rng.uniform(-35, 0, n)              # 3-day mean air temperature, C
    days = rng.uniform(10, 120, n)            # days since freeze-up
    crack = (rng.uniform(size=n) < 0.15).astype(np.float64)
    white = black * white_frac / (1 - white_frac)
    h_eff = (black + 0.5 * white) / 100.0     # effective thickness, m
    a = 3.5 * (1 + 0.012 * np.minimum(-air, 25)) * (1 - 0.004 * snow)
    a *= 1 - 0.3 * crack
    a *= 1 + 0.1 * np.tanh((days - 40) / 30)
    load = a * (h_eff * 10) ** 2 / 10.0       # Gold-style A*h^2, tonnes
    load = load + rng.normal(0, 0.8, n)
    X = np.stack([black, white_frac, snow, air, days, crack], 1)
    return X.astype(np.float32), load.astype(np.float32)


class FourierHead(nn.Module):
    def __init__(self, d_in, n_feat=128, hidden=64, seed=3):
        super().__init__()
        g = np.random.default_rng(seed)
        self.rff = nn.Linear(d_in, n_feat)
        self.rff.weight = mx.array(g.normal(0, 0.5, (n_feat, d_in)).astype(np.float32))
        self.rff.bias = mx.array(g.uniform(0, 2 * math.pi, n_feat).astype(np.float32))
        self.scale = 1.0
        self.fc = nn.Linear(n_feat, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        z = self.scale * mx.cos(self.rff(x))
        return self.out(nn.gelu(self.fc(z))).squeeze(-1)


def main():
    rng = np.random.default_rng(11)
    Xtr, ytr = make_crossings(6000, rng)
    Xva, yva = make_crossings(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m, yva_n = mx.array((ytr - ymu) / ysd), yva

    mx.random.seed(5)
    model = FourierHead(6)
    model.rff.freeze()          # fixed feature map, on purpose
    mx.eval(model.parameters())
    rff_before = np.array(model.rff.weight)

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(INFO.substitute(tag="data", msg=f"train={len(ytr)} val={len(yva)} "
                          f"mean load={ymu:.2f}t sd={ysd:.2f}t"))
    print(INFO.substitute(tag="model", msg=f"params={n_all} trainable={n_train} "
                          f"(rff frozen: {n_all - n_train})"))

    total, warm, peak = 2000, 200, 0.05
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, 1e-3)], [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)

    def val_metrics():
        pred = np.array(model(Xva_m)) * ysd + ymu
        err = np.abs(pred - yva_n)
        return float(err.mean()), 100.0 * float((err < 1.0).mean())

    _, g0 = step_fn(model, Xtr_m[:256], ytr_m[:256])
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(INFO.substitute(tag="gradcheck", msg=f"leaves={len(tree_flatten(g0))} zero={zero}"))
    mae, pct = val_metrics()
    print(LINE.substitute(tag="init", step=0, lr="0", loss="-", mae=f"{mae:.3f}", pct=f"{pct:.1f}"))
    base = float(np.abs(yva_n - ymu).mean())
    print(INFO.substitute(tag="baseline", msg=f"predict-the-mean val_mae={base:.3f}t"))

    t0 = time.time()
    n = Xtr_m.shape[0]
    bs, cursor, perm = 64, 0, np.random.default_rng(2).permutation(n)
    window = []
    for step in range(1, total + 1):
        if cursor + bs > n:
            perm, cursor = np.random.default_rng(step).permutation(n), 0
        idx = mx.array(perm[cursor:cursor + bs])
        cursor += bs
        lr_now = float(opt.learning_rate)
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1:
            print(INFO.substitute(tag="warmup", msg=f"first update ran at lr={lr_now:g}"))
        if step % 200 == 0:
            mae, pct = val_metrics()
            print(LINE.substitute(tag="train", step=step, lr=f"{lr_now:.4f}",
                                  loss=f"{np.mean(window):.4f}", mae=f"{mae:.3f}",
                                  pct=f"{pct:.1f}"))
            window = []

    drift = float(np.abs(np.array(model.rff.weight) - rff_before).max())
    mae, pct = val_metrics()
    print(INFO.substitute(tag="done", msg=f"{time.time() - t0:.1f}s val_mae={mae:.3f}t "
                          f"within_1t={pct:.1f}% noise_sd=0.8t frozen_rff_max_change={drift}"))


if __name__ == "__main__":
    main()
