# Hot-air balloon flight log: predict the vertical speed (m/s) a minute after a burner
# decision, from burner duty, envelope / ambient temperature, payload, altitude and a
# thermal index. Curriculum: stage "calm" = morning flights in still air, stage "thermic" =
# afternoon flights with thermals and gusts (harder, noisier). Lion optimiser, LR warmup
# from exactly 0 at the start of each stage, JSON-lines log.
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
FEATS = 6


def flights(n, stage):
    duty = mx.random.uniform(0, 1, (n,))
    t_amb = mx.random.uniform(-5, 30, (n,))
    t_env = t_amb + 40 + 70 * duty + mx.random.normal((n,)) * 4
    payload = mx.random.uniform(250, 650, (n,))
    alt = mx.random.uniform(0, 2500, (n,))
    if stage == "calm":
        thermal = mx.zeros((n,))
        noise = 0.15
    else:
        thermal = mx.random.uniform(0, 1, (n,)) ** 2
        noise = 0.45
    rho = 1.225 * mx.exp(-alt / 8500)
    lift = 2.4 * rho * (1 / (t_amb + 273.15) - 1 / (t_env + 273.15)) * 273.15
    net = lift - payload / 1000 - 0.35
    v = 4.0 * mx.tanh(3.0 * net) + 2.5 * thermal * (1 + duty) + noise * mx.random.normal((n,))
    x = mx.stack([duty, (t_amb - 12) / 10, (t_env - 100) / 25, (payload - 450) / 115, (alt - 1250) / 720, thermal * 2 - 0.6], axis=1)
    return x, v


class ClimbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(FEATS, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


model = ClimbNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

stages = [("calm", 240, 1e-3), ("thermic", 360, 6e-4)]
for stage, steps, peak in stages:
    xtr, ytr = flights(6000, stage)
    xva, yva = flights(1500, stage)
    # reference: always predicting the training-mean climb rate
    base_mse = ((yva - ytr.mean()) ** 2).mean().item()
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm]
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    for step in range(steps):
        idx = mx.random.randint(0, xtr.shape[0], (128,))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0 or step == steps - 1:
            va = ((model(xva) - yva) ** 2).mean().item()
            rec = {
                "stage": stage,
                "step": step,
                "lr": round(opt.learning_rate.item(), 7),
                "huber": round(loss.item(), 4),
                "val_mse_m2s2": round(va, 4),
                "mean_pred_mse": round(base_mse, 4),
            }
            print(json.dumps(rec))
    va = ((model(xva) - yva) ** 2).mean().item()
    print(json.dumps({"stage_done": stage, "val_rmse_ms": round(math.sqrt(va), 3), "mean_pred_rmse_ms": round(math.sqrt(base_mse), 3)}))
