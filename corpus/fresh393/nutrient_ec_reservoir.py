"""Hydroponic nutrient line: next-interval conductivity response to the dosing pump duty.

Echo state network: a random reservoir (frozen on purpose, spectral radius 0.9)
driven by the pump duty; only the linear readout is trained (Adam, cosine decay).
The run is done in two parts: part 1 writes the readout and optimizer state to disk,
part 2 builds everything fresh, loads them and carries on.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(394)
mx.random.seed(394)
T_ALL, WASHOUT, T_TRAIN = 5200, 200, 4000


def dosing_system(T):
    u = rng.uniform(0.0, 0.5, T)
    y = np.zeros(T)
    for t in range(9, T - 1):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y[t - 9:t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    return u.astype(np.float32), y.astype(np.float32)


u, y = dosing_system(T_ALL)


class Reservoir(nn.Module):
    def __init__(self, n, density=0.1, radius=0.9, in_scale=0.5):
        super().__init__()
        w = rng.normal(0, 1, (n, n)) * (rng.uniform(0, 1, (n, n)) < density)
        w *= radius / np.abs(np.linalg.eigvals(w)).max()
        self.w_res = mx.array(w.astype(np.float32))
        self.w_in = mx.array(rng.uniform(-in_scale, in_scale, (n,)).astype(np.float32))
        self.b = mx.array(rng.uniform(-0.2, 0.2, (n,)).astype(np.float32))

    def run(self, seq):
        x = mx.zeros((self.w_res.shape[0],))
        states = []
        for t in range(seq.shape[0]):
            x = mx.tanh(self.w_res @ x + self.w_in * seq[t] + self.b)
            states.append(x)
            if t % 400 == 399:
                mx.eval(states[-400:])
        return mx.stack(states)


res = Reservoir(300)
res.freeze()
w_res_before = np.array(res.w_res)
t0 = time.perf_counter()
S = res.run(mx.array(u))
u_col = mx.array(u)[:, None]
F = mx.concatenate([S, u_col], axis=1)          # features at time t predict y[t+1]
target = mx.array(y)[1:]
F = F[:-1]
Ftr, ytr = F[WASHOUT:T_TRAIN], target[WASHOUT:T_TRAIN]
Fte, yte = F[T_TRAIN:], target[T_TRAIN:]
mx.eval(Ftr, Fte)
var_te = float(np.var(np.array(yte)))


def nrmse(pred, tgt):
    return float(np.sqrt(np.mean((np.array(pred) - np.array(tgt)) ** 2) / np.var(np.array(tgt))))


print(f"reservoir=300 frozen_params={sum(v.size for _, v in tree_flatten(res.parameters()))} "
      f"trainable_in_reservoir={len(tree_flatten(res.trainable_parameters()))} states_secs={time.perf_counter() - t0:.1f}")

STEPS_TOTAL, PART1, BATCH = 3000, 1500, 256
sched = optim.cosine_decay(5e-3, STEPS_TOTAL, 2e-4)


def loss_fn(m, f, t):
    return nn.losses.mse_loss(m(f).squeeze(-1), t)


def train(readout, opt, first, last, tag):
    step_fn = nn.value_and_grad(readout, loss_fn)
    n = Ftr.shape[0]
    window = []
    for step in range(first, last + 1):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = step_fn(readout, Ftr[idx], ytr[idx])
        opt.update(readout, grads)
        mx.eval(readout.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 300 == 0 or step == first:
            print(f"part={tag} step={step} lr={sched(opt.step - 1).item():.2e} "
                  f"train_mse={np.mean(window):.5f} test_nrmse={nrmse(readout(Fte).squeeze(-1), yte):.4f}")
            window = []


# ---- part 1
readout = nn.Linear(301, 1)
opt = optim.Adam(learning_rate=sched)
train(readout, opt, 1, PART1, "1")
ckpt = tempfile.mkdtemp(prefix="ec_readout_")
readout.save_weights(os.path.join(ckpt, "readout.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
nrmse_saved = nrmse(readout(Fte).squeeze(-1), yte)
print(f"part=1 saved dir={os.path.basename(ckpt)} opt_step={opt.step.item()} test_nrmse={nrmse_saved:.4f}")
del readout, opt

# ---- part 2: everything rebuilt from disk
readout = nn.Linear(301, 1)
readout.load_weights(os.path.join(ckpt, "readout.safetensors"))
opt = optim.Adam(learning_rate=sched)
opt.init(readout.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"part=2 resumed opt_step={opt.step.item()} test_nrmse={nrmse(readout(Fte).squeeze(-1), yte):.4f}")
train(readout, opt, PART1 + 1, STEPS_TOTAL, "2")

# ---- references on the same test stretch
Ftr_np = np.concatenate([np.array(Ftr), np.ones((Ftr.shape[0], 1), np.float32)], 1)
Fte_np = np.concatenate([np.array(Fte), np.ones((Fte.shape[0], 1), np.float32)], 1)
w = np.linalg.solve(Ftr_np.T @ Ftr_np + 1e-4 * np.eye(Ftr_np.shape[1]), Ftr_np.T @ np.array(ytr))
print(f"reference=ridge_readout test_nrmse={nrmse(Fte_np @ w, yte):.4f}")
print(f"reference=previous_value test_nrmse={nrmse(np.array(y)[T_TRAIN:-1], yte):.4f}")
print(f"reference=train_mean test_nrmse={nrmse(np.full(yte.shape, float(np.array(ytr).mean())), yte):.4f}")
print(f"final test_nrmse={nrmse(readout(Fte).squeeze(-1), yte):.4f} "
      f"reservoir_max_change={np.abs(np.array(res.w_res) - w_res_before).max():.1f} secs={time.perf_counter() - t0:.1f}")
shutil.rmtree(ckpt)
