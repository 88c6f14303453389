# Continual learning on two regression tasks, one after the other.
# Task B starts at step 600: its loss starts high, and task A's loss rises a bit
# when B begins, held in check by an EWC-style quadratic penalty. This is by design.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3)
X = rng.normal(size=(1024, 8)).astype(np.float32)
wA = rng.normal(size=(8, 1)).astype(np.float32)
wB = rng.normal(size=(8, 1)).astype(np.float32)
yA = np.tanh(X @ wA) + 0.05 * rng.normal(size=(1024, 1)).astype(np.float32)
yB = np.sin(X @ wB) + 0.05 * rng.normal(size=(1024, 1)).astype(np.float32)
X, yA, yB = mx.array(X), mx.array(yA), mx.array(yB)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.head_a = nn.Linear(64, 1)
        self.head_b = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.head_a(h), self.head_b(h)


model = Net()
anchor = None      # parameters after task A
fisher = None      # squared-gradient importance after task A
LAM = 20.0


def task_loss(model, x, y, task):
    pa, pb = model(x)
    return nn.losses.mse_loss(pa if task == "A" else pb, y)


def ewc_loss(model, x, y, task):
    loss = task_loss(model, x, y, task)
    if anchor is not None:
        pen = 0.0
        cur = dict(tree_flatten(model.trainable_parameters()))
        for k, a in anchor.items():
            if k.startswith("body"):
                pen = pen + (fisher[k] * (cur[k] - a) ** 2).sum()
        loss = loss + LAM * pen
    return loss


step_fn = nn.value_and_grad(model, ewc_loss)
opt = optim.Adam(learning_rate=2e-3)

for step in range(1, 1201):
    task = "A" if step <= 600 else "B"
    if step == 601:
        # snapshot parameters and a diagonal Fisher estimate for task A
        anchor = {k: v for k, v in tree_flatten(model.trainable_parameters())}
        g = nn.value_and_grad(model, task_loss)(model, X, yA, "A")[1]
        fisher = {k: v ** 2 for k, v in tree_flatten(g)}
        mx.eval(anchor, fisher)
        opt = optim.Adam(learning_rate=2e-3)
        print("--- switching to task B ---")
    idx = mx.array(rng.integers(0, 1024, size=64))
    y = yA if task == "A" else yB
    loss, grads = step_fn(model, X[idx], y[idx], task)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0:
        la = task_loss(model, X, yA, "A").item()
        lb = task_loss(model, X, yB, "B").item()
        print(f"step {step:4d} [{task}] objective={loss.item():.4f} mse_A={la:.4f} mse_B={lb:.4f}")
