"""Velodrome: flying-lap time (s) of track cyclists from session readings.

BatchNorm MLP, hand-written AdaGrad over tree_flatten / tree_unflatten.  Epoch 0 is a
'calibration' epoch run at learning rate 0: the AdaGrad accumulators and the BatchNorm
running statistics warm up while the weights stay put; real training starts at epoch 1.
Reports are logfmt key=value lines.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(21)
N_TRAIN, N_VAL = 9000, 2000


def make(n):
    power = rng.normal(1100, 180, n)          # peak watts
    mass = rng.normal(78, 8, n)               # rider + bike kg
    cda = rng.normal(0.20, 0.02, n)           # drag area
    temp = rng.normal(24, 3, n)               # track temperature C
    gear = rng.normal(110, 6, n)              # gear inches
    cadence = rng.normal(128, 8, n)
    lap = (13.2 - 1.4e-3 * (power - 1100) + 0.018 * (mass - 78) + 9.0 * (cda - 0.20)
           - 0.025 * (temp - 24) + 2.5e-5 * (gear - 110) ** 2 * 10 - 0.004 * (cadence - 128)
           + 0.4 * np.tanh((power / mass - 14) / 3) * -1 + rng.normal(0, 0.08, n))
    X = np.stack([power, mass, cda, temp, gear, cadence], 1)
    return X.astype(np.float32), lap.astype(np.float32)


Xtr, ytr = make(N_TRAIN)
Xva, yva = make(N_VAL)
y_mu, y_sd = ytr.mean(), ytr.std()
# raw readings on purpose: the first BatchNorm does the input scaling
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ytr_m = mx.array((ytr - y_mu) / y_sd)


class LapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm(6)
        self.fc1 = nn.Linear(6, 64)
        self.bn1 = nn.BatchNorm(64)
        self.fc2 = nn.Linear(64, 32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.relu(self.bn1(self.fc1(self.bn_in(x))))
        return self.head(nn.relu(self.fc2(h))).squeeze(-1)


class AdaGrad:
    """Plain AdaGrad on flattened (path, array) lists."""

    def __init__(self, params, lr, eps=1e-8):
        self.lr = lr
        self.eps = eps
        self.acc = {k: mx.zeros_like(v) for k, v in tree_flatten(params)}

    def step(self, model, grads, lr):
        new = []
        flat_p = dict(tree_flatten(model.trainable_parameters()))
        for k, g in tree_flatten(grads):
            self.acc[k] = self.acc[k] + g * g
            new.append((k, flat_p[k] - lr * g / (mx.sqrt(self.acc[k]) + self.eps)))
        model.update(tree_unflatten(new))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model):
    model.eval()
    pred = np.array(model(Xva_m)) * y_sd + y_mu
    model.train()
    err = pred - yva
    return float(np.sqrt((err ** 2).mean())), 100.0 * float((np.abs(err) < 0.1).mean())


mx.random.seed(3)
model = LapNet()
mx.eval(model.parameters())
opt = AdaGrad(model.trainable_parameters(), lr=0.05)
step_fn = nn.value_and_grad(model, loss_fn)

# gradient audit on the first batch
_, g0 = step_fn(model, Xtr_m[:128], ytr_m[:128])
leaves = tree_flatten(g0)
nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
print(f"event=grad_check nonzero={nz} leaves={len(leaves)}")
model.bn_in.running_mean = mx.zeros((6,))  # undo the audit's running-stat update
model.bn_in.running_var = mx.ones((6,))
model.bn1.running_mean = mx.zeros((64,))
model.bn1.running_var = mx.ones((64,))

rmse0, hit0 = evaluate(model)
print(f"event=start epoch=0 val_rmse_s={rmse0:.4f} within_0.1s_pct={hit0:.1f} "
      f"predict_mean_rmse_s={float(np.sqrt(((yva - y_mu) ** 2).mean())):.4f}")

EPOCHS, BATCH, LR = 12, 64, 0.05
w_before = {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}
t0 = time.time()
for epoch in range(EPOCHS + 1):
    lr = 0.0 if epoch == 0 else LR       # epoch 0: calibration pass at lr 0
    perm = rng.permutation(N_TRAIN)
    losses = []
    for i in range(0, N_TRAIN - BATCH + 1, BATCH):
        idx = mx.array(perm[i:i + BATCH])
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.step(model, grads, lr)
        mx.eval(model.parameters(), opt.acc, loss)
        losses.append(loss.item())
    rmse, hit = evaluate(model)
    line = (f"event=epoch epoch={epoch} lr={lr:g} train_mse_std={np.mean(losses):.4f} "
            f"val_rmse_s={rmse:.4f} within_0.1s_pct={hit:.1f} secs={time.time() - t0:.1f}")
    if epoch == 0:
        drift = max(float(np.abs(np.array(v) - w_before[k]).max())
                    for k, v in tree_flatten(model.trainable_parameters()))
        line += f" weight_drift={drift:.1e} bn_in_mean_power={float(model.bn_in.running_mean[0]):.0f}"
    print(line)

print(f"event=done val_rmse_s={rmse:.4f} within_0.1s_pct={hit:.1f} noise_floor_s=0.0800")
