"""Sextant sight reduction: learn the total altitude correction (arc-minutes)
from observed altitude, height of eye, air temperature, pressure and limb flag.
Random Fourier feature layer is fixed on purpose (frozen), only the readout trains.
Hand-written momentum SGD with a linear warm-up that starts at lr = 0."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)

def make_sights(n):
    ho = rng.uniform(5.0, 80.0, n)            # observed altitude, degrees
    hoe = rng.uniform(1.5, 12.0, n)           # height of eye, metres
    temp = rng.uniform(-10.0, 35.0, n)        # C
    pres = rng.uniform(970.0, 1040.0, n)      # hPa
    limb = rng.integers(0, 2, n).astype(np.float64)  # 0 lower, 1 upper
    dip = -1.76 * np.sqrt(hoe)
    refr = -0.96 / np.tan(np.radians(ho + 7.31 / (ho + 4.4)))
    refr = refr * (pres / 1010.0) * (283.0 / (273.0 + temp))
    semi = np.where(limb > 0, -16.0, 16.0)
    corr = dip + refr + semi + rng.normal(0, 0.15, n)
    X = np.stack([ho, hoe, temp, pres, limb], 1)
    return X.astype(np.float32), corr.astype(np.float32)

Xtr, ytr = make_sights(8000)
Xte, yte = make_sights(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xte = (Xte - mu) / sd
ymu, ysd = ytr.mean(), ytr.std()


class FourierReadout(nn.Module):
    def __init__(self, d_in, n_feat, scale):
        super().__init__()
        self.proj = nn.Linear(d_in, n_feat)
        self.proj.weight = mx.random.normal((n_feat, d_in)) * scale
        self.proj.bias = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.head = nn.Linear(n_feat, 1)

    def __call__(self, x):
        phi = mx.cos(self.proj(x)) * math.sqrt(2.0 / self.proj.weight.shape[0])
        return self.head(phi).squeeze(-1)


mx.random.seed(3)
model = FourierReadout(5, 384, 0.9)
model.proj.freeze()                       # fixed random features, on purpose
mx.eval(model.parameters())
frozen_before = np.array(model.proj.weight)

Xtr_m, ytr_m = mx.array(Xtr), mx.array((ytr - ymu) / ysd)
Xte_m = mx.array(Xte)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


class WarmupMomentumSGD:
    def __init__(self, peak_lr, warmup, momentum):
        self.peak_lr, self.warmup, self.momentum = peak_lr, warmup, momentum
        self.t = 0
        self.vel = None

    def lr(self):
        return self.peak_lr * min(1.0, self.t / self.warmup)   # lr is 0 at t = 0

    def step(self, model, grads):
        if self.vel is None:
            self.vel = tree_map(mx.zeros_like, grads)
        lr = self.lr()
        self.vel = tree_map(lambda v, g: self.momentum * v + g, self.vel, grads)
        new = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), self.vel)
        model.update(new)
        self.t += 1
        return lr


def test_rmse_arcmin():
    pred = np.array(model(Xte_m)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - yte) ** 2)))


opt = WarmupMomentumSGD(peak_lr=0.5, warmup=200, momentum=0.9)
n, bs, steps = Xtr.shape[0], 100, 3000
order = rng.permutation(n)
cursor = 0
hdr = "{:>6} {:>10} {:>14} {:>16} {:>8}".format("step", "lr", "train_mse(std)", "test_rmse(arcmin)", "secs")
print("sextant sight reduction | 8000 train / 2000 test | noise sd 0.15'")
print("predict-mean test rmse: {:.3f}'   untrained test rmse: {:.3f}'".format(
    float(np.sqrt(np.mean((yte - ymu) ** 2))), test_rmse_arcmin()))
print(hdr)
t0 = time.time()
window = []
for step in range(1, steps + 1):
    if cursor + bs > n:
        order, cursor = rng.permutation(n), 0
    idx = mx.array(order[cursor:cursor + bs])
    cursor += bs
    loss, grads = grad_fn(model, Xtr_m[idx], ytr_m[idx])
    if step == 1:
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
        print("  grad check: {} trainable leaves {} zero={} (proj frozen)".format(
            len(leaves), [k for k, _ in leaves], zero))
    lr = opt.step(model, grads)
    mx.eval(model.parameters(), opt.vel, loss)
    window.append(loss.item())
    if step in (1, 100) or step % 500 == 0:
        print("{:>6d} {:>10.4f} {:>14.5f} {:>16.3f} {:>8.1f}".format(
            step, lr, sum(window) / len(window), test_rmse_arcmin(), time.time() - t0))
        window = []
drift = float(np.abs(np.array(model.proj.weight) - frozen_before).max())
print("done: test rmse {:.3f}' | frozen projection max change {:.1f}".format(test_rmse_arcmin(), drift))
