"""Aerial ropeway: predict how far (cm) a cabin stops from its docking mark at the valley station.
Stage 1 fits calm-day runs only; stage 2 adds gusty runs (harder: sway offset + haul-rope stretch)."""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N_FEAT = 6  # cabin load, rope temperature, brake pressure, operator skill, previous offset, gusty


def ropeway_runs(n, gusty_days):
    f = mx.random.uniform(-1, 1, (n, N_FEAT))
    gust = (mx.random.uniform(shape=(n,)) < 0.5) if gusty_days else mx.zeros((n,), dtype=mx.bool_)
    f[:, 5] = gust.astype(mx.float32)
    err = (18 * f[:, 0] - 11 * f[:, 2] * f[:, 3] + 7 * mx.sin(2.5 * f[:, 1])
           + 0.45 * 20 * f[:, 4]
           + gust * (25 + 9 * f[:, 1] * f[:, 0] - 6 * f[:, 3] ** 2))
    err = err + 2.0 * mx.random.normal((n,))
    return f, err / 20.0  # train in units of 20 cm


class DockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


model = DockNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
stages = [("calm", False, 300), ("calm+gusts", True, 500)]
for stage_name, gusty, steps in stages:
    warm = 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, warm),
                                  optim.cosine_decay(1e-3, steps - warm, 1e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vx, vy = ropeway_runs(1024, gusty)
    base_cm = 20 * mx.abs(vy - vy.mean()).mean().item()  # predict-the-mean reference
    for step in range(steps):
        x, y = ropeway_runs(128, gusty)
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            mae_cm = 20 * mx.abs(model(vx) - vy).mean().item()
            print(json.dumps({"stage": stage_name, "step": step, "lr": round(float(opt.learning_rate.item()), 7),
                              "huber": round(loss.item(), 4), "val_mae_cm": round(mae_cm, 2),
                              "mean_guess_cm": round(base_cm, 2)}))
final = 20 * mx.abs(model(vx) - vy).mean().item()
print(json.dumps({"summary": True, "val_mae_cm": round(final, 2), "mean_guess_cm": round(base_cm, 2),
                  "gain_pct": round(100 * (1 - final / base_cm), 1)}))
