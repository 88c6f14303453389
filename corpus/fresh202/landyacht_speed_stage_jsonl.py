"""Land-yacht (beach sand-yacht) speed regressor (knots) trained in two stages:
firm-sand runs first, then the full log with gusts and soft, rutted sand.
Each stage gets a fresh AdamW whose learning rate warms up from 0."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial


def make_sessions(n, seed):
    key = mx.random.key(seed)
    k = mx.random.split(key, 8)
    wind = mx.random.uniform(10.0, 32.0, (n,), key=k[0])           # knots
    gust = mx.random.uniform(0.0, 1.0, (n,), key=k[1])             # gust factor
    sail = mx.random.uniform(7.0, 14.0, (n,), key=k[2])            # sail area m^2
    rider = mx.random.uniform(55.0, 100.0, (n,), key=k[3])         # kg
    ruts = mx.random.uniform(0.0, 1.2, (n,), key=k[4])             # soft-sand index
    angle = mx.random.uniform(0.4, 2.6, (n,), key=k[5])            # rad off the wind
    power = wind * mx.sqrt(sail) / mx.sqrt(rider / 75.0)
    speed = 0.42 * power * mx.sin(angle) ** 0.7 / (1.0 + 0.35 * ruts)
    speed = speed - 3.0 * gust * ruts * mx.cos(angle) ** 2
    speed = speed + (0.3 + 1.4 * gust) * mx.random.normal((n,), key=k[6])
    feats = mx.stack([
        (wind - 21.0) / 6.0, gust * 2 - 1, (sail - 10.5) / 2.0, (rider - 77.0) / 13.0,
        ruts - 0.6, mx.sin(angle), mx.cos(angle)], axis=1)
    return feats, speed, gust, ruts


class SpeedNet(nn.Module):
    def __init__(self, d_in=7, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x)) + x
        return self.out(x).squeeze(-1)


def run_stage(name, model, Xtr, ytr, Xva, yva, steps, peak_lr, baseline):
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, steps - warm, peak_lr * 0.05)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    state = [model.state, opt.state]

    def loss_fn(X, y):
        return nn.losses.huber_loss(model(X), y, delta=1.5, reduction="mean")

    @partial(mx.compile, inputs=state, outputs=state)
    def step(X, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(X, y)
        opt.update(model, grads)
        return loss

    n = Xtr.shape[0]
    bs = 64
    for it in range(steps):
        idx = mx.random.randint(0, n, (bs,))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if it % 50 == 0 or it == steps - 1:
            err = model(Xva) - yva
            rec = {
                "stage": name, "step": it, "lr": round(float(opt.learning_rate.item()), 6),
                "huber": round(loss.item(), 4),
                "val_mae_kn": round(mx.mean(mx.abs(err)).item(), 3),
                "val_rmse_kn": round(math.sqrt(mx.mean(err * err).item()), 3),
                "mean_guess_mae_kn": round(baseline, 3),
            }
            print(json.dumps(rec))


def main():
    mx.random.seed(7)
    X, y, gust, ruts = make_sessions(4000, seed=3)
    Xva, yva, gva, cva = make_sessions(800, seed=11)
    firm = (gust < 0.35) & (ruts < 0.4)
    firm_idx = mx.array([i for i, f in enumerate(firm.tolist()) if f])
    vfirm_idx = mx.array([i for i, f in enumerate(((gva < 0.35) & (cva < 0.4)).tolist()) if f])
    print(json.dumps({"event": "data", "runs": X.shape[0], "firm_sand_runs": int(firm_idx.size),
                      "val": Xva.shape[0], "val_firm": int(vfirm_idx.size)}))

    model = SpeedNet()
    mx.eval(model.parameters())
    t0 = time.time()
    base_firm = mx.mean(mx.abs(yva[vfirm_idx] - mx.mean(y[firm_idx]))).item()
    run_stage("firm", model, X[firm_idx], y[firm_idx], Xva[vfirm_idx], yva[vfirm_idx], 300, 3e-3, base_firm)
    base_all = mx.mean(mx.abs(yva - mx.mean(y))).item()
    run_stage("full", model, X, y, Xva, yva, 600, 2e-3, base_all)
    err = model(Xva) - yva
    print(json.dumps({"event": "done", "val_mae_kn": round(mx.mean(mx.abs(err)).item(), 3),
                      "mean_guess_mae_kn": round(base_all, 3), "wall_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
