"""SGDR: cosine annealing with warm restarts (T0=60 steps, doubled each cycle)."""
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("sgdr")

mx.random.seed(11)
N, D = 2048, 8
X = mx.random.uniform(-2, 2, (N, D))
y = (mx.sin(X[:, :1] * 2) + 0.5 * X[:, 1:2] * X[:, 2:3] - 0.3 * X[:, 3:4] ** 2
     + 0.05 * mx.random.normal((N, 1)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


model = Net()
mx.eval(model.parameters())
LR_MAX, LR_MIN = 0.08, 1e-4
opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9, nesterov=True)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


vg = nn.value_and_grad(model, loss_fn)


def sgdr_lr(step, t0=60, mult=2):
    t, start, cycle = t0, 0, 0
    while step >= start + t:
        start += t
        t *= mult
        cycle += 1
    frac = (step - start) / t
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * frac)), cycle


total = 60 + 120 + 240 + 480
ema = None
for step in range(total):
    lr, cycle = sgdr_lr(step)
    opt.learning_rate = lr
    idx = mx.random.randint(0, N, (64,))
    loss, g = vg(model, X[idx], y[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    v = loss.item()
    ema = v if ema is None else 0.95 * ema + 0.05 * v
    if step % 30 == 0 or step == total - 1:
        log.info("cycle=%d step=%d lr=%.5f mse_ema=%.4f", cycle, step, lr, ema)

full = loss_fn(model, X, y).item()
log.info("done: full-data mse %.4f", full)
