"""Kombucha batches: predict pH after fermentation; 3 seeds trained one after another.

Hidden activations are quantised to steps of 1/8 with a straight-through estimator
(forward uses the rounded value, backward treats it as identity).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
N_TR, N_TE = 6000, 1500
n = N_TR + N_TE
days = rng.uniform(5, 21, n)
temp = rng.uniform(18, 30, n)
sugar = rng.uniform(40, 120, n)          # g/L
tea = rng.uniform(3, 10, n)              # g/L
starter = rng.uniform(5, 20, n)          # % of volume
scoby_age = rng.uniform(1, 12, n)        # batches
rate = np.exp(0.07 * (temp - 24)) * (0.6 + 0.04 * starter) * (1 + 0.02 * scoby_age)
acid = sugar / 80 * (1 - np.exp(-0.12 * rate * days)) + 0.01 * tea
ph = 3.9 - 1.3 * acid + 0.25 * np.exp(-starter / 6) + rng.normal(0, 0.05, n)
X = np.stack([days, temp, sugar, tea, starter, scoby_age], 1).astype(np.float32)
y = ph.astype(np.float32)
mu, sd = X[:N_TR].mean(0), X[:N_TR].std(0)
X = (X - mu) / sd
ymu, ysd = y[:N_TR].mean(), y[:N_TR].std()
Xtr, Xte = mx.array(X[:N_TR]), mx.array(X[N_TR:])
ytr, yte = mx.array((y[:N_TR] - ymu) / ysd), y[N_TR:]


def ste_quant(h, step=0.125):
    # forward: rounded; backward: identity (straight-through)
    return h + mx.stop_gradient(mx.round(h / step) * step - h)


class PhNet(nn.Module):
    def __init__(self, d_in=6, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = ste_quant(nn.silu(self.l1(x)))
        h = ste_quant(nn.silu(self.l2(h)))
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def test_mae(model):
    pred = np.array(model(Xte)) * ysd + ymu
    return float(np.abs(pred - yte).mean())


EPOCHS, BS = 10, 64
print("kombucha pH | train {} / test {} | predict-mean MAE {:.3f} pH".format(
    N_TR, N_TE, float(np.abs(yte - ymu).mean())))
results = []
for seed in (11, 22, 33):
    mx.random.seed(seed)
    model = PhNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
    step = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(seed)
    print("--- seed {} --- untrained test MAE {:.3f} pH".format(seed, test_mae(model)))
    t0 = time.time()
    first = True
    for ep in range(1, EPOCHS + 1):
        perm = order.permutation(N_TR)
        tot, cnt = 0.0, 0
        for i in range(0, N_TR - BS + 1, BS):
            idx = mx.array(perm[i:i + BS])
            loss, grads = step(model, Xtr[idx], ytr[idx])
            if first:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                print("    first-step grads: {} leaves, all-zero: {}".format(len(leaves), zero))
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * BS
            cnt += BS
        if ep % 2 == 0 or ep == 1:
            print("    epoch {:2d}  train mse(std) {:.4f}  test MAE {:.4f} pH  {:5.1f}s".format(
                ep, tot / cnt, test_mae(model), time.time() - t0))
    results.append(test_mae(model))

r = np.array(results)
print("summary: test MAE per seed " + ", ".join("{:.4f}".format(v) for v in r)
      + " | mean {:.4f} +- {:.4f} pH (noise sd 0.05 -> MAE floor ~0.040)".format(r.mean(), r.std()))
