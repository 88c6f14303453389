"""Glass lehr annealing notebook: predict residual stress (birefringence, nm/cm)
of float-glass panes from six lehr settings. Small MLP with a hand-written
softplus (custom VJP), Adamax, warmup from lr=0 then cosine warm restarts.
Prints one JSON object per report."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1371)


def make_panes(n):
    peak = rng.uniform(510, 565, n)          # degC
    soak = rng.uniform(5, 40, n)             # min
    rate = rng.uniform(0.5, 6.0, n)          # degC/min through the annealing range
    thick = rng.uniform(2.0, 12.0, n)        # mm
    cte = rng.uniform(8.0, 9.6, n)           # 1e-6 / K
    belt = rng.uniform(0.3, 1.5, n)          # m/min
    stress = (1.5 + 0.055 * rate * thick ** 1.6 * (cte / 9.0) ** 2
              + 6.0 * np.exp(-(soak - 5) / 6.0) * (peak < 530)
              + 1.8 * np.maximum(belt - 1.0, 0) * thick / 4
              - 0.02 * (peak - 540))
    stress = stress + rng.normal(0, 0.35, n)
    X = np.stack([peak, soak, rate, thick, cte, belt], 1).astype(np.float32)
    return X, stress.astype(np.float32)


Xtr, ytr = make_panes(4000)
Xva, yva = make_panes(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_np = yva
baseline_mae = float(np.abs(yva - ytr.mean()).mean())


@mx.custom_function
def soft_relu(x):
    return mx.logaddexp(x, mx.zeros_like(x))


@soft_relu.vjp
def soft_relu_vjp(x, cotangent, output):
    return cotangent * mx.sigmoid(x)


class StressNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = soft_relu(self.l1(x))
        h = soft_relu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
net = StressNet()
mx.eval(net.parameters())
init_params = tree_map(lambda a: mx.array(a), net.parameters())

# check the hand-written VJP against finite differences once
xt = mx.array([-2.0, -0.3, 0.0, 0.7, 3.0])
g_custom = mx.grad(lambda v: soft_relu(v).sum())(xt)
eps = 1e-3
g_fd = (mx.logaddexp(xt + eps, mx.zeros_like(xt)) - mx.logaddexp(xt - eps, mx.zeros_like(xt))) / (2 * eps)
print(json.dumps({"check": "softplus_vjp", "max_abs_diff": round(float(mx.abs(g_custom - g_fd).max()), 6)}))

warm = 60
cycle = 300
restarts = 3
total = warm + cycle * restarts
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, cycle, 1e-5)], [warm])


def lr_at(step):
    if step < warm:
        return sched(step)
    return optim.cosine_decay(4e-3, cycle, 1e-5)((step - warm) % cycle)


opt = optim.Adamax(learning_rate=0.0)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


vg = nn.value_and_grad(net, loss_fn)
bs = 128
t0 = time.time()
zero_grad_seen = set()
for step in range(total):
    opt.learning_rate = mx.array(float(lr_at(step)))
    idx = mx.array(rng.integers(0, Xtr_m.shape[0], bs))
    loss, grads = vg(net, Xtr_m[idx], ytr_m[idx])
    if step == warm:
        for k, g in tree_flatten(grads):
            if float(mx.abs(g).max()) == 0.0:
                zero_grad_seen.add(k)
    opt.update(net, grads)
    mx.eval(net.parameters(), opt.state, loss)
    if step % 60 == 0 or step == total - 1:
        pred = np.array(net(Xva_m)) * ysd + ymu
        mae = float(np.abs(pred - yva_np).mean())
        r2 = 1 - float(((pred - yva_np) ** 2).sum() / ((yva_np - yva_np.mean()) ** 2).sum())
        cyc = 0 if step < warm else (step - warm) // cycle + 1
        print(json.dumps({
            "step": step, "cycle": cyc, "lr": round(float(lr_at(step)), 6),
            "batch_mse_std": round(float(loss), 4),
            "val_mae_nm_cm": round(mae, 3), "baseline_mae_nm_cm": round(baseline_mae, 3),
            "r2": round(r2, 4)}))

drift = {k: round(float(mx.linalg.norm((v - dict(tree_flatten(init_params))[k]).reshape(-1))), 4)
         for k, v in tree_flatten(net.parameters())}
print(json.dumps({"audit": "param_drift_l2", **drift}))
print(json.dumps({"audit": "zero_grad_params", "names": sorted(zero_grad_seen)}))
print(json.dumps({"done": True, "steps": total, "seconds": round(time.time() - t0, 2)}))
