"""Grey-box system identification of a stiffening spring (Duffing oscillator).

The known linear part of the dynamics (spring constant, damping) is a frozen
nn.Linear holding the datasheet values; only a small MLP that learns the missing
nonlinear force is trained.  The vector field is integrated with a hand-written
RK4 step and the loss is the mean squared error of a multi-step rollout against
noisy measured trajectories.  The rollout horizon grows by stages
(2 -> 4 -> 8 -> 16 steps), so the training loss jumps up at each new stage.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DT = 0.05
K_SPRING, DAMPING, K_CUBIC = 1.0, 0.15, 0.8   # the plant; K_CUBIC is unknown to the model


def true_field(s):
    x, v = s[..., 0], s[..., 1]
    return np.stack([v, -K_SPRING * x - DAMPING * v - K_CUBIC * x ** 3], axis=-1)


def simulate(n_traj, n_steps, rng):
    s = rng.uniform(-1.6, 1.6, size=(n_traj, 2))
    out = [s]
    h = DT / 10
    for _ in range(n_steps):
        for _ in range(10):                       # fine RK4 for the "real" plant
            k1 = true_field(s)
            k2 = true_field(s + 0.5 * h * k1)
            k3 = true_field(s + 0.5 * h * k2)
            k4 = true_field(s + h * k3)
            s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(s)
    return np.stack(out, axis=1).astype(np.float32)      # (n_traj, n_steps+1, 2)


class GreyBox(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.physics = nn.Linear(2, 2, bias=False)
        self.physics.weight = mx.array([[0.0, 1.0], [-K_SPRING, -DAMPING]])
        self.physics.freeze()
        self.residual = nn.Sequential(
            nn.Linear(2, hidden), nn.Tanh(),
            nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, 2),
        )

    def field(self, s):
        return self.physics(s) + self.residual(s)

    def rk4(self, s):
        k1 = self.field(s)
        k2 = self.field(s + 0.5 * DT * k1)
        k3 = self.field(s + 0.5 * DT * k2)
        k4 = self.field(s + DT * k3)
        return s + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    def rollout(self, s0, horizon):
        states, s = [], s0
        for _ in range(horizon):
            s = self.rk4(s)
            states.append(s)
        return mx.stack(states, axis=1)


def physics_only_rollout(s0, horizon):
    A = np.array([[0.0, 1.0], [-K_SPRING, -DAMPING]], dtype=np.float32)
    f = lambda s: s @ A.T
    s, out = s0, []
    for _ in range(horizon):
        k1 = f(s); k2 = f(s + 0.5 * DT * k1); k3 = f(s + 0.5 * DT * k2); k4 = f(s + DT * k3)
        s = s + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(s)
    return np.stack(out, axis=1)


rng = np.random.default_rng(11)
clean_train = simulate(48, 160, rng)
noisy_train = clean_train + rng.normal(0, 0.01, clean_train.shape).astype(np.float32)
clean_val = simulate(16, 60, rng)
VAL_H = 60

mx.random.seed(11)
model = GreyBox()
frozen_before = np.array(model.physics.weight)


def loss_fn(model, s0, target):
    pred = model.rollout(s0, target.shape[1])
    return mx.mean((pred - target) ** 2)


loss_and_grad = nn.value_and_grad(model, loss_fn)
opt = optim.Adafactor(learning_rate=4e-3, relative_step=False, scale_parameter=False)

STAGES = [(2, 150), (4, 150), (8, 150), (16, 150)]
BATCH = 64
REPORT_EVERY = 50


def sample_windows(horizon):
    ti = rng.integers(0, noisy_train.shape[0], size=BATCH)
    t0 = rng.integers(0, noisy_train.shape[1] - horizon, size=BATCH)
    s0 = noisy_train[ti, t0]
    tgt = noisy_train[ti[:, None], t0[:, None] + 1 + np.arange(horizon)[None, :]]
    return mx.array(s0), mx.array(tgt)


def val_rmse():
    pred = model.rollout(mx.array(clean_val[:, 0]), VAL_H)
    return float(np.sqrt(np.mean((np.array(pred) - clean_val[:, 1:]) ** 2)))


phys_rmse = float(np.sqrt(np.mean((physics_only_rollout(clean_val[:, 0], VAL_H) - clean_val[:, 1:]) ** 2)))
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"trajectories: {clean_train.shape[0]} train x {clean_train.shape[1]} samples, "
      f"{clean_val.shape[0]} held out; dt={DT}")
print(f"parameters: {n_all} total, {n_train} trainable (physics prior frozen)")
print(f"{VAL_H}-step held-out rollout RMSE: physics prior alone {phys_rmse:.4f}, "
      f"untrained grey-box {val_rmse():.4f}")

t_start = time.time()
update = 0
for stage, (horizon, n_updates) in enumerate(STAGES, 1):
    print(f"-- stage {stage}: rollout horizon {horizon} steps ({horizon * DT:.2f} s) --")
    running, seen = 0.0, 0
    for _ in range(n_updates):
        s0, tgt = sample_windows(horizon)
        loss, grads = loss_and_grad(model, s0, tgt)
        if update == 0:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"first-step gradients: {len(flat)} trainable leaves, all-zero: {dead or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        update += 1
        running += loss.item()
        seen += 1
        if update % REPORT_EVERY == 0:
            print(f"  update {update:4d}  H={horizon:<2d}  rollout mse {running / seen:.3e}  "
                  f"val {VAL_H}-step rmse {val_rmse():.4f}  ({time.time() - t_start:.1f}s)")
            running, seen = 0.0, 0

assert np.array_equal(frozen_before, np.array(model.physics.weight)), "physics prior moved"
xs = mx.linspace(-1.5, 1.5, 7)
learned = model.residual(mx.stack([xs, mx.zeros_like(xs)], axis=1))[:, 1]
print("learned extra force at v=0 vs true -k3*x^3:")
for x, f in zip(np.array(xs), np.array(learned)):
    print(f"  x={x:+.2f}  learned {f:+.3f}  true {-K_CUBIC * x ** 3:+.3f}")
print(f"done: {update} updates, physics prior unchanged, final {VAL_H}-step rmse {val_rmse():.4f} "
      f"(prior alone {phys_rmse:.4f})")
