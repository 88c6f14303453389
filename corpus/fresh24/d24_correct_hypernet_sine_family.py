# Hypernetwork: a task embedding (amplitude, frequency, phase) is mapped to ALL weights of a
# small target MLP (1 -> 24 -> 1), which is then evaluated functionally on that task's points.
# Tasks are drawn fresh every step, so the batch loss is noisy; spikes are reported through
# warnings on stderr, regular progress goes to stdout.
import math
import random
import statistics
import warnings
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)
H = 24
N_TARGET = H + H + H + 1          # w1 (1xH), b1 (H), w2 (Hx1), b2 (1)
TASKS, PTS = 16, 40


def tasks(n):
    a = mx.random.uniform(0.5, 2.0, (n, 1))
    f = mx.random.uniform(0.5, 2.0, (n, 1))
    p = mx.random.uniform(0.0, math.pi, (n, 1))
    return mx.concatenate([a, f, p], axis=1)


def points(theta, k):
    x = mx.random.uniform(-3.0, 3.0, (theta.shape[0], k, 1))
    a, f, p = theta[:, 0, None, None], theta[:, 1, None, None], theta[:, 2, None, None]
    return x, a * mx.sin(f * x + p)


class HyperNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, N_TARGET)

    def __call__(self, theta):
        return 0.5 * self.head(self.trunk(theta))


def target_forward(flat, x):
    # flat: (T, N_TARGET), x: (T, P, 1)
    w1 = flat[:, :H][:, None, :]                 # (T,1,H)
    b1 = flat[:, H:2 * H][:, None, :]
    w2 = flat[:, 2 * H:3 * H][:, :, None]        # (T,H,1)
    b2 = flat[:, 3 * H:][:, None, :]
    h = mx.tanh(x @ w1 * 2.0 + b1)               # (T,P,H)
    return h @ w2 + b2                           # (T,P,1)


def loss_fn(model, theta, x, y):
    return ((target_forward(model(theta), x) - y) ** 2).mean()


def r2_heldout(model, theta, x, y):
    pred = target_forward(model(theta), x)
    ss_res = ((pred - y) ** 2).sum(axis=(1, 2))
    ss_tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=(1, 2))
    return 1.0 - ss_res / ss_tot


model = HyperNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(1e-4, 2e-3, 200), optim.cosine_decay(2e-3, 3800, end=1e-4)], [200]))
vg = nn.value_and_grad(model, loss_fn)

th_val = tasks(64)
x_val, y_val = points(th_val, 200)
recent = []
for step in range(1, 4001):
    th = tasks(TASKS)
    x, y = points(th, PTS)
    loss, g = vg(model, th, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    lv = loss.item()
    if len(recent) >= 50 and lv > 6 * statistics.median(recent):
        warnings.warn(f"step {step}: batch mse {lv:.4f} > 6x running median {statistics.median(recent):.4f}")
    recent = (recent + [lv])[-50:]
    if step % 250 == 0:
        r2 = r2_heldout(model, th_val, x_val, y_val)
        print(f"step: {step} · lr: {opt.learning_rate.item():.2e} · batch mse: {lv:.4f} · "
              f"held-out median R2: {statistics.median(r2.tolist()):.3f} · tasks R2>0.9: "
              f"{int((r2 > 0.9).sum().item())}/64", flush=True)
