"""Mountain-rescue call-out duration (hours) with a gamma-deviance MLP.
Curriculum in three stages: daylight/no-snow call-outs first, then night and
snow call-outs join, then everything at a lower learning rate.  Gradients go
through mx.distributed (a one-process group here, same code on a cluster).
One JSON object per report line."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
WORLD, RANK = group.size(), group.rank()

rs = np.random.default_rng(147 + RANK)
mx.random.seed(147)


def callouts(n):
    dist = rs.gamma(2.0, 3.0, n)                 # km from base
    gain = rs.uniform(0, 1400, n)                # m of ascent
    casualties = rs.integers(1, 4, n)
    night = (rs.random(n) < 0.35).astype(np.float32)
    snow = (rs.random(n) < 0.3).astype(np.float32)
    team = rs.integers(4, 13, n)
    wind = rs.gamma(2.0, 12.0, n)                # km/h
    log_mu = (0.2 + 0.09 * dist + 0.0007 * gain + 0.15 * (casualties - 1)
              + 0.45 * night + 0.35 * snow + 0.4 * night * snow
              - 0.03 * (team - 8) + 0.006 * wind + 0.004 * wind * snow)
    shape = 4.0
    hours = rs.gamma(shape, np.exp(log_mu) / shape)
    X = np.stack([dist, gain / 100.0, casualties, night, snow, team, wind / 10.0], 1)
    return X.astype(np.float32), hours.astype(np.float32), night, snow


Xtr, ytr, ntr, str_ = callouts(6000)
Xva, yva, nva, sva = callouts(1500)
mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu_x) / sd_x, (Xva - mu_x) / sd_x
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
easy = mx.array(np.nonzero((ntr == 0) & (str_ == 0))[0])
every = mx.arange(Xtr.shape[0])


class DurationNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 48)
        self.b = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
        self.out.bias = mx.array([math.log(2.0)])

    def __call__(self, x):
        return self.out(nn.tanh(self.b(nn.tanh(self.a(x))))).squeeze(-1)


def deviance(log_mu, y):
    r = y * mx.exp(-log_mu)
    return mx.mean(2.0 * (r - mx.log(r) - 1.0))


def loss_fn(model, x, y):
    return deviance(model(x), y)


model = DurationNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, loss_fn)

_, g = grad_fn(model, Xtr[:256], ytr[:256])
zero = [k for k, v in tree_flatten(g) if mx.max(mx.abs(v)).item() == 0.0]
assert not zero, zero

state = [model.state, opt.state]


def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    grads = tree_map(lambda t: mx.distributed.all_sum(t, group=group) / WORLD, grads)
    grads, gnorm = optim.clip_grad_norm(grads, 4.0)
    opt.update(model, grads)
    return loss, gnorm


train_step = mx.compile(train_step, inputs=state, outputs=state)

ybar = mx.mean(ytr)
base_va = deviance(mx.log(ybar) * mx.ones_like(yva), yva).item()
STAGES = [("daylight", easy, 0.05, 240), ("night+snow", every, 0.05, 240),
          ("all/low-lr", every, 0.01, 200)]
t0 = time.time()
for si, (name, pool, lr, steps) in enumerate(STAGES, 1):
    opt.learning_rate = lr
    n = pool.shape[0]
    full_dev = deviance(model(Xtr[pool]), ytr[pool]).item()
    print(json.dumps({"stage": si, "name": name, "pool": int(n), "step": 0,
                      "train_dev_pool": round(full_dev, 4), "lr": lr}))
    for step in range(1, steps + 1):
        pick = pool[mx.random.randint(0, n, (128,))]
        loss, gnorm = train_step(Xtr[pick], ytr[pick])
        mx.eval(state, loss, gnorm)
        if step % 40 == 0:
            pred = mx.exp(model(Xva))
            vdev = deviance(mx.log(pred), yva).item()
            mae = mx.mean(mx.abs(pred - yva)).item()
            print(json.dumps({"stage": si, "step": step, "dev": round(loss.item(), 4),
                              "val_dev": round(vdev, 4), "val_dev_const": round(base_va, 4),
                              "mae_h": round(mae, 3), "gnorm": round(gnorm.item(), 3),
                              "rank": RANK, "world": WORLD}))

pred = mx.exp(model(Xva))
bias = (mx.mean(pred) - mx.mean(yva)).item()
wnorm = math.sqrt(sum(mx.sum(v * v).item() for _, v in tree_flatten(model.parameters())))
print(json.dumps({"done": True, "val_dev": round(deviance(mx.log(pred), yva).item(), 4),
                  "val_dev_const": round(base_va, 4), "mean_pred_h": round(mx.mean(pred).item(), 3),
                  "mean_true_h": round(mx.mean(yva).item(), 3), "bias_h": round(bias, 3),
                  "weight_norm": round(wnorm, 3), "sec": round(time.time() - t0, 2)}))
