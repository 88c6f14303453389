"""Where do the windfall apples land?

Unnormalised density model of fallen-apple positions (metres from the trunk
row, 2-D) trained with noise-contrastive estimation: the network gives an
energy E(x), log p(x) = -E(x) + c with a learned log-normaliser c, and the
objective is logistic discrimination of real windfalls against samples from a
broad Gaussian "wind scatter" noise (4 noise points per apple).

If NCE works, c makes the model self-normalised, so the numerically
integrated log Z of exp(log p) should drift to ~0 without ever being
computed inside the loss.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)

# ---------------------------------------------------------------- orchard data
TREES = np.array([[-2.0, -1.2], [0.3, 1.8], [2.4, -0.6], [-0.4, -2.6]])
SPREAD = np.array([[0.55, 0.30], [0.40, 0.70], [0.65, 0.35], [0.35, 0.35]])
SHARE = np.array([0.35, 0.25, 0.25, 0.15])


def windfalls(n):
    k = rng.choice(4, size=n, p=SHARE)
    return (TREES[k] + SPREAD[k] * rng.standard_normal((n, 2))).astype(np.float32)


def true_logpdf(x):
    d = (x[:, None, :] - TREES[None]) / SPREAD[None]
    comp = (-0.5 * (d ** 2).sum(-1) - np.log(SPREAD).sum(-1)[None]
            - math.log(2 * math.pi) + np.log(SHARE)[None])
    m = comp.max(1, keepdims=True)
    return (m + np.log(np.exp(comp - m).sum(1, keepdims=True)))[:, 0]


NOISE_SD = 2.5
NU = 4


def noise_logpdf_np(x):
    return (-0.5 * (x ** 2).sum(-1) / NOISE_SD ** 2
            - 2 * math.log(NOISE_SD) - math.log(2 * math.pi))


train = windfalls(20000)
test = windfalls(5000)
test_ll_true = float(true_logpdf(test.astype(np.float64)).mean())


# ---------------------------------------------------------------- model
class EnergyNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 1))
        # learned log-normaliser; a plain array attribute is a parameter
        self.log_c = mx.array(-3.0)

    def __call__(self, x):
        return -self.body(x)[:, 0] + self.log_c


def nce_loss(model, x_data, x_noise, lq_data, lq_noise):
    g_data = model(x_data) - (math.log(NU) + lq_data)
    g_noise = model(x_noise) - (math.log(NU) + lq_noise)
    per_apple = -nn.log_sigmoid(g_data).mean() - NU * nn.log_sigmoid(-g_noise).mean()
    return per_apple


model = EnergyNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, nce_loss)

# integration grid for the (silent) self-normalisation check
LIM, G = 6.0, 161
axis = np.linspace(-LIM, LIM, G, dtype=np.float32)
gx, gy = np.meshgrid(axis, axis, indexing="ij")
GRID = mx.array(np.stack([gx.ravel(), gy.ravel()], 1))
CELL = float((axis[1] - axis[0]) ** 2)


def integrated_log_z(m):
    lp = np.array(m(GRID), dtype=np.float64)
    top = lp.max()
    return float(top + math.log(np.exp(lp - top).sum() * CELL))


def test_loglik(m, log_z):
    return float(np.array(m(mx.array(test)), dtype=np.float64).mean()) - log_z


BATCH = 256


def draw_batch():
    idx = rng.integers(0, len(train), BATCH)
    xd = train[idx]
    xn = (NOISE_SD * rng.standard_normal((BATCH * NU, 2))).astype(np.float32)
    return (mx.array(xd), mx.array(xn),
            mx.array(noise_logpdf_np(xd).astype(np.float32)),
            mx.array(noise_logpdf_np(xn).astype(np.float32)))


# gradient wiring check on one eager batch, before compiling
_, g0 = loss_and_grad(model, *draw_batch())
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"gradient check: {len(leaves)} leaves, all-zero: {dead or 'none'}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xd, xn, lqd, lqn):
    loss, grads = loss_and_grad(model, xd, xn, lqd, lqn)
    opt.update(model, grads)
    return loss


header = "{:>6} {:>12} {:>9} {:>11} {:>14} {:>7}".format(
    "step", "nce/apple", "log_c", "|log Z|", "test ll nats", "secs")
print(f"windfalls: {len(train)} train / {len(test)} test, noise ratio {NU}, "
      f"true-density test ll {test_ll_true:.3f} nats")
print(header)
print("-" * len(header))

t0 = time.perf_counter()
window = []
lz = integrated_log_z(model)
print("{:>6} {:>12} {:>9.3f} {:>11.3f} {:>14.3f} {:>7.1f}".format(
    0, "-", model.log_c.item(), abs(lz), test_loglik(model, lz), 0.0))

STEPS = 2000
for it in range(1, STEPS + 1):
    loss = step(*draw_batch())
    mx.eval(loss, state)
    window.append(loss.item())
    if it % 400 == 0 or it == 50:
        lz = integrated_log_z(model)       # silent quadrature over 26k cells
        print("{:>6} {:>12.4f} {:>9.3f} {:>11.3f} {:>14.3f} {:>7.1f}".format(
            it, float(np.mean(window)), model.log_c.item(), abs(lz),
            test_loglik(model, lz), time.perf_counter() - t0))
        window = []

print("-" * len(header))
lz = integrated_log_z(model)
print(f"done: |log Z| {abs(lz):.3f} (0 = self-normalised), "
      f"test ll {test_ll_true - test_loglik(model, lz):.3f} nats below the true density")
