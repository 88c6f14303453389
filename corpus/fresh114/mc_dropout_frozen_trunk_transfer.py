"""Pretrain an MLP regressor with dropout on a source task, then freeze the trunk
and fit a fresh head on a small target task (SGD momentum, lr warm-up from 0).
Uncertainty is read with MC dropout (dropout left on at test time)."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_task(n, shift, noise):
    x = rng.uniform(-2, 2, size=(n, 4)).astype(np.float32)
    y = np.sin(2.0 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + shift * x[:, 3]
    y = y + noise * rng.standard_normal(n)
    return x, y.astype(np.float32)[:, None]


class Trunk(nn.Module):
    def __init__(self, d_in, width, p):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        x = self.drop(nn.relu(self.l1(x)))
        return self.drop(nn.relu(self.l2(x)))


class Regressor(nn.Module):
    def __init__(self, d_in=4, width=64, p=0.1):
        super().__init__()
        self.trunk = Trunk(d_in, width, p)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.trunk(x))


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def check_first_grads(grads, tag):
    flat = tree_flatten(grads)
    dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    print(f"# {tag}: {len(flat)} trainable leaves, zero-grad leaves: {dead or 'none'}")


def mc_predict(model, x, passes=40):
    model.train()  # keep dropout active: MC dropout
    draws = mx.stack([model(x) for _ in range(passes)])
    mx.eval(draws)
    d = np.array(draws)[..., 0]
    return d.mean(0), d.std(0)


def report(model, x, y, phase, ep, train_loss):
    mu, sd = mc_predict(model, x)
    yt = np.array(y)[:, 0]
    rmse = math.sqrt(float(np.mean((mu - yt) ** 2)))
    total_sd = np.sqrt(sd ** 2 + 0.1 ** 2)
    inside = np.abs(yt - mu) <= 1.645 * total_sd
    tl = "-" if train_loss is None else f"{train_loss:.4f}"
    print(f"phase={phase:<8} epoch={ep:>3} train_mse={tl} "
          f"val_rmse={rmse:.4f} interval90_coverage={100 * inside.mean():5.1f}%")


def run_phase(model, opt, x, y, xv, yv, epochs, bs, phase, report_every):
    loss_and_grad = nn.value_and_grad(model, mse)
    n = x.shape[0]
    first = True
    for ep in range(1, epochs + 1):
        model.train()
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - bs + 1, bs):
            idx = mx.array(perm[s:s + bs])
            loss, grads = loss_and_grad(model, x[idx], y[idx])
            if first:
                check_first_grads(grads, phase)
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if ep % report_every == 0 or ep == 1:
            report(model, xv, yv, phase, ep, tot / cnt)


# ---- phase 1: source task, whole network trains ----
xs, ys = make_task(2048, shift=0.0, noise=0.1)
xsv, ysv = make_task(512, shift=0.0, noise=0.1)
model = Regressor()
mx.eval(model.parameters())
run_phase(model, optim.Adam(learning_rate=3e-3), mx.array(xs), mx.array(ys),
          mx.array(xsv), mx.array(ysv), epochs=24, bs=64, phase="pretrain", report_every=6)

# ---- phase 2: target task, trunk frozen, fresh head, warm-up from lr=0 ----
xt, yt = make_task(192, shift=0.4, noise=0.1)
xtv, ytv = make_task(512, shift=0.4, noise=0.1)
trunk_before = {k: np.array(v) for k, v in tree_flatten(model.trunk.parameters())}
model.head = nn.Linear(64, 1)
model.trunk.freeze()
mx.eval(model.parameters())
report(model, mx.array(xtv), mx.array(ytv), "finetune", 0, None)
warm = optim.linear_schedule(0.0, 0.008, 30)
sched = optim.join_schedules([warm, lambda step: mx.array(0.008)], [30])
opt2 = optim.SGD(learning_rate=sched, momentum=0.9)
run_phase(model, opt2, mx.array(xt), mx.array(yt), mx.array(xtv), mx.array(ytv),
          epochs=80, bs=16, phase="finetune", report_every=16)
moved = max(float(np.abs(np.array(v) - trunk_before[k]).max())
            for k, v in tree_flatten(model.trunk.parameters()))
print(f"# trunk max abs change during fine-tune: {moved:.2e} (frozen on purpose)")
