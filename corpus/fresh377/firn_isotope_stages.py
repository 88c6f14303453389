"""Ice-core section: reconstruct the temperature anomaly (degC) of each sample
from dust, conductivity, deuterium excess and depth, with a per-sample
uncertainty that grows with depth (diffusion smears the deep record).
Two stages: (A) mean head only, variance head frozen, MSE with SGD+Nesterov;
(B) everything trainable, Gaussian NLL with Adam."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)


def make_core(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    depth = mx.random.uniform(0.0, 1.0, (n,), key=k1)          # fraction of 2800 m
    x = mx.random.normal((n, 3), key=k2)                         # dust, ECM, d-excess (standardised)
    temp = (-2.0 * x[:, 0] + 1.2 * mx.tanh(1.5 * x[:, 1]) + 0.6 * x[:, 2] * x[:, 0]
            - 3.0 * depth)
    sigma = 0.03 + 0.45 * depth ** 2
    y = temp + sigma * mx.random.normal((n,), key=k3)
    feats = mx.concatenate([x, (depth[:, None] - 0.5) * 2.0], axis=1)
    return feats, y[:, None], sigma[:, None]


class CoreNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))

    def __call__(self, x):
        return self.mean(self.body(x)), self.logvar(x)


def loss_mse(model, x, y):
    mu, _ = model(x)
    return nn.losses.mse_loss(mu, y)


def loss_nll(model, x, y):
    mu, lv = model(x)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(lv), full=True)


def report(tag, model, x, y):
    mu, lv = model(x)
    sd = mx.exp(0.5 * lv)
    rmse = mx.sqrt(mx.mean((mu - y) ** 2)).item()
    nll = nn.losses.gaussian_nll_loss(mu, y, sd ** 2, full=True).item()
    cover = mx.mean((mx.abs(mu - y) <= sd).astype(mx.float32)).item()
    print(f"  [{tag}] rmse {rmse:.3f} degC  nll {nll:+.3f}  within-1sd {100*cover:.1f}%")


xtr, ytr, _ = make_core(6000, mx.random.key(11))
xva, yva, sva = make_core(1500, mx.random.key(12))
mx.eval(xtr, ytr, xva, yva, sva)
oracle = nn.losses.gaussian_nll_loss(yva, yva + 0.0, sva ** 2, full=True).item()
const_sd = mx.std(yva).item()
print(f"samples train={xtr.shape[0]} valid={xva.shape[0]}")
print(f"climatology rmse {const_sd:.3f} degC   oracle-noise nll {oracle:+.3f} (lower bound, true sigma, exact mean)")

model = CoreNet()
mx.eval(model.parameters())
lv_start = [v for _, v in tree_flatten(model.logvar.parameters())]
BS = 128
tick = time.time()

print("stage A: mean head, variance head frozen at its initial weights, MSE, SGD nesterov")
model.logvar.freeze()
opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
step = nn.value_and_grad(model, loss_mse)
for i in range(600):
    idx = mx.random.randint(0, xtr.shape[0], (BS,))
    loss, g = step(model, xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if (i + 1) % 200 == 0:
        print(f"step {i+1:4d}  train_mse {loss.item():.4f}  ({time.time()-tick:.1f}s)")
report("after A", model, xva, yva)
moved = sum(mx.abs(a - b).max().item() for a, (_, b) in zip(lv_start, tree_flatten(model.logvar.parameters())))
print(f"  variance-head total change during stage A: {moved:.2e} (frozen on purpose)")

print("stage B: all trainable, Gaussian NLL (full), Adam")
model.unfreeze()
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, loss_nll)
for i in range(900):
    idx = mx.random.randint(0, xtr.shape[0], (BS,))
    loss, g = step(model, xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if (i + 1) % 300 == 0:
        print(f"step {600+i+1:4d}  train_nll {loss.item():+.4f}  ({time.time()-tick:.1f}s)")
report("after B", model, xva, yva)

mu, lv = model(xva)
sd = mx.exp(0.5 * lv)[:, 0]
shallow = xva[:, 3] < -0.5
deep = xva[:, 3] > 0.5
print(f"predicted sd shallow {mx.mean(mx.where(shallow, sd, 0)).item()/mx.mean(shallow.astype(mx.float32)).item():.3f}"
      f" (true {mx.mean(mx.where(shallow, sva[:,0], 0)).item()/mx.mean(shallow.astype(mx.float32)).item():.3f})"
      f"   deep {mx.mean(mx.where(deep, sd, 0)).item()/mx.mean(deep.astype(mx.float32)).item():.3f}"
      f" (true {mx.mean(mx.where(deep, sva[:,0], 0)).item()/mx.mean(deep.astype(mx.float32)).item():.3f})")
