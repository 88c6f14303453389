# Wind-farm SCADA: estimate the power shortfall (% of the clean power curve)
# caused by blade icing from six ten-minute SCADA averages.
# AdamW, compiled step, warmup from lr = 0, early stopping with best-weight restore.
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)


def make_scada(n):
    temp = rng.uniform(-15, 5, n)            # nacelle air temperature, C
    humid = rng.uniform(60, 100, n)          # relative humidity, %
    wind = rng.uniform(3, 18, n)             # hub wind speed, m/s
    lwc = rng.gamma(2.0, 0.08, n)            # liquid water content proxy, g/m3
    hours = rng.uniform(0, 48, n)            # hours since last de-ice cycle
    heater = rng.integers(0, 2, n)           # blade heater on/off
    ice_risk = np.clip(1.0 - np.abs(temp + 4) / 9, 0, 1) * (humid > 85)
    accretion = ice_risk * lwc * np.sqrt(hours) * (1 - 0.7 * heater)
    loss = 35 * np.tanh(accretion * 1.6) * (0.6 + 0.4 * np.tanh((wind - 6) / 4))
    loss = loss + rng.normal(0, 1.2, n)
    X = np.stack([temp, humid, wind, lwc, hours, heater], 1).astype(np.float32)
    return X, loss.astype(np.float32)


Xtr, ytr = make_scada(4000)
Xva, yva = make_scada(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
baseline_mae = float(np.abs(np.array(yva) - float(np.array(ytr).mean())).mean())


class IcingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = IcingNet()
mx.eval(model.parameters())

batch = 128
steps_per_epoch = Xtr.shape[0] // batch
max_epochs = 70
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, max_epochs * steps_per_epoch - warm, 1e-4)],
    [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, grads)
    return loss


# every trainable tensor must receive gradient
_, g0 = nn.value_and_grad(model, mse)(model, Xtr[:256], ytr[:256])
assert all(float(mx.abs(g).sum()) > 0 for _, g in tree_flatten(g0))

print(f"{'ep':>3} {'lr':>9} {'train_mse':>10} {'val_mae%':>9} {'mean-only%':>10}  note")
best, best_ep, patience, bad = float("inf"), -1, 8, 0
best_params = None
for ep in range(max_epochs):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * batch:(i + 1) * batch]
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        tot += loss.item()
    val_mae = mx.abs(model(Xva) - yva).mean().item()
    lr_now = opt.learning_rate.item()
    note = ""
    if val_mae < best - 0.01:
        best, best_ep, bad = val_mae, ep, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
        note = "*"
    else:
        bad += 1
    print(f"{ep:>3} {lr_now:>9.2e} {tot / steps_per_epoch:>10.3f} {val_mae:>9.3f} {baseline_mae:>10.3f}  {note}")
    if bad >= patience:
        print(f"-- no val gain for {patience} epochs, stopping at epoch {ep}")
        break

model.update(best_params)
mx.eval(model.parameters())
diff = sum(float(mx.abs(a - b).max()) for (_, a), (_, b)
           in zip(tree_flatten(model.parameters()), tree_flatten(best_params)))
final = mx.abs(model(Xva) - yva).mean().item()
print(f"restored epoch {best_ep}: val_mae {final:.3f} % (mean-only {baseline_mae:.3f} %), max|w-w_best| {diff:.1e}")
