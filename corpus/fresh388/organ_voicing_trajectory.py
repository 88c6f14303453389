"""Organ-pipe voicing: predict the pitch deviation (cents) of a flue pipe from
seven voicing measurements, and keep every parameter snapshot for a
trajectory plot (PCA of the optimisation path, loss along the straight line).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
FEATURES = ["mouth_w_mm", "cutup_mm", "languid_deg", "toe_mm", "wind_mmH2O", "nick_depth", "temp_C"]


def make_pipes(n):
    x = rng.normal(size=(n, 7)).astype(np.float32)
    cents = (
        9.0 * np.tanh(x[:, 1] - 0.4 * x[:, 0])
        + 6.0 * x[:, 4] * (1.0 + 0.3 * x[:, 3])
        - 4.0 * np.sin(1.7 * x[:, 2])
        + 2.5 * x[:, 6]
        + 1.5 * x[:, 5] * x[:, 1]
    )
    cents = cents + rng.normal(scale=1.2, size=n)  # tuner reading noise, 1.2 cents
    return x, cents.astype(np.float32)[:, None]


x_tr, y_tr = make_pipes(12000)
x_va, y_va = make_pipes(2000)
X_TR, Y_TR, X_VA, Y_VA = map(mx.array, (x_tr, y_tr, x_va, y_va))


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def flat_params(model):
    return np.concatenate([np.array(v).ravel() for _, v in tree_flatten(model.parameters())])


def load_flat(model, vec):
    out, i = [], 0
    for k, v in tree_flatten(model.parameters()):
        n = v.size
        out.append((k, mx.array(vec[i:i + n].reshape(v.shape))))
        i += n
    model.load_weights(out)


mx.random.seed(3)
model = VoicingNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

STEPS, WARM, BATCH, EVERY = 900, 100, 128, 1
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)], [WARM]
)
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, mse)

print(f"pipes: train {len(x_tr)}  valid {len(x_va)}  features {len(FEATURES)}  reading noise 1.20 cents")
print(f"VoicingNet parameters: {n_params}  snapshot every {EVERY} steps -> {n_params * 4 / 1e6:.3f} MB each")
print(f"predict-the-mean baseline: valid RMSE {float(np.sqrt(((y_va - y_tr.mean()) ** 2).mean())):.2f} cents")

snapshots = [flat_params(model)]
t0 = time.time()
perm, cur = rng.permutation(len(x_tr)), 0
window = []
for step in range(1, STEPS + 1):
    if cur + BATCH > len(perm):
        perm, cur = rng.permutation(len(x_tr)), 0
    idx = mx.array(perm[cur:cur + BATCH])
    cur += BATCH
    loss, grads = step_fn(model, X_TR[idx], Y_TR[idx])
    opt.update(model, grads)
    mx.eval(loss, model.parameters(), opt.state)
    window.append(loss.item())
    if step % EVERY == 0:
        snapshots.append(flat_params(model))
    if step == 1 or step % 100 == 0:
        va = float(np.sqrt(mse(model, X_VA, Y_VA).item()))
        mb = sum(s.nbytes for s in snapshots) / 1e6
        print(
            f"[step {step:4d}/{STEPS}] lr {float(opt.learning_rate):.2e}  train_mse {np.mean(window):7.3f} c^2"
            f"  valid_rmse {va:5.2f} cents  trajectory {len(snapshots):5d} snaps / {mb:6.1f} MB  ({time.time() - t0:4.1f}s)"
        )
        window = []

print("-- trajectory analysis")
traj = np.stack(snapshots)
print(f"trajectory matrix {traj.shape[0]} x {traj.shape[1]}  ({traj.nbytes / 1e6:.1f} MB)")
centred = traj - traj.mean(axis=0, keepdims=True)
sub = centred[::6]
ev = np.sort(np.linalg.eigvalsh(sub @ sub.T))[::-1]
var = ev / ev.sum()
print(f"PCA explained variance: PC1 {100 * var[0]:.1f}%  PC2 {100 * var[1]:.1f}%  PC3 {100 * var[2]:.1f}%")
steps_len = np.linalg.norm(np.diff(traj, axis=0), axis=1).sum()
straight = np.linalg.norm(traj[-1] - traj[0])
print(f"path length {steps_len:.2f}  straight-line distance {straight:.2f}  ratio {steps_len / straight:.2f}")

final = traj[-1].copy()
print("loss along the line init -> final (alpha, train mse):")
for a in np.linspace(0.0, 1.0, 6):
    load_flat(model, (1 - a) * traj[0] + a * final)
    print(f"  alpha {a:.1f}  {mse(model, X_TR[:4000], Y_TR[:4000]).item():8.3f}")
load_flat(model, final)
va = float(np.sqrt(mse(model, X_VA, Y_VA).item()))
print(f"done: valid RMSE {va:.2f} cents (reading noise floor 1.20)  wall {time.time() - t0:.1f}s")
