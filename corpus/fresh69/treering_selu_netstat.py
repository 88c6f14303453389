# Dendrochronology: predict annual tree-ring width index from climate of the growing year.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def make_rings(n):
    precip = rng.gamma(4.0, 60.0, n)            # mm, Apr-Aug
    tsum = rng.normal(15.5, 1.8, n)             # deg C, Jun-Aug mean
    prev = rng.lognormal(0.0, 0.25, n)          # previous year's width index
    age = rng.uniform(20, 300, n)               # cambial age, years
    spring_frost = (rng.random(n) < 0.08).astype(np.float64)
    moist = 1.0 - np.exp(-precip / 180.0)
    heat = np.exp(-((tsum - 16.0) / 2.5) ** 2)
    growth = 1.6 * moist * heat * (0.55 + 0.45 * np.exp(-age / 120.0))
    width = 0.35 * prev + growth - 0.25 * spring_frost
    width = width * rng.lognormal(0.0, 0.08, n)
    x = np.stack([np.log(precip), tsum, np.log(prev), np.log(age), spring_frost], 1)
    return x.astype(np.float32), np.log(np.maximum(width, 0.05)).astype(np.float32)


xtr, ytr = make_rings(7000)
xva, yva = make_rings(1500)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
ymu, ysd = ytr.mean(), ytr.std()
norm = lambda a: (a - mu) / sd
Xtr, Ytr = mx.array(norm(xtr)), mx.array((ytr - ymu) / ysd)
Xva, Yva = mx.array(norm(xva)), mx.array(yva)


class RingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
        self.act = nn.SELU()

    def __call__(self, x):
        h = self.act(self.l1(x))
        h = self.act(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = RingNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
EPOCHS, BS = 20, 100
steps_per_epoch = len(xtr) // BS
sched = optim.cosine_decay(0.08, EPOCHS * steps_per_epoch, end=0.005)
opt = optim.Adagrad(learning_rate=sched)


def valid():
    pred = model(Xva) * ysd + ymu
    err = mx.exp(pred) - mx.exp(Yva)
    rmse = mx.sqrt(mx.mean(err * err))
    mae = mx.mean(mx.abs(err))
    return rmse.item(), mae.item()


print("Active Internet connections (servers and established)")
print(f"{'Proto':<6}{'Recv-Q':>7} {'Send-Q':>7} {'Local Address':<34}{'Foreign Address':<52}State")

# first-batch gradient audit
l0, g0 = vg(model, Xtr[:BS], Ytr[:BS])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.all(v == 0).item()]
print(f"{'unix':<6}{0:>7} {0:>7} {'gradcheck:leaves=' + str(len(leaves)):<34}{'zero=' + str(len(zero)) + ',loss0=' + f'{l0.item():.4f}':<52}LISTEN")
base = np.exp(np.full_like(yva, ytr.mean()))
brmse = float(np.sqrt(np.mean((base - np.exp(yva)) ** 2)))
print(f"{'unix':<6}{0:>7} {0:>7} {'baseline:const_mean':<34}{'valid_rmse=' + f'{brmse:.4f}':<52}LISTEN")

t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(xtr)))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    rmse, mae = valid()
    lr = opt.learning_rate.item()
    recvq = int(tot / steps_per_epoch * 1e4)
    print(f"{'tcp':<6}{recvq:>7} {ep:>7} {'127.0.0.1:' + str(5000 + ep) + '/train_mse=' + f'{tot / steps_per_epoch:.4f}':<34}"
          f"{'valid_rmse=' + f'{rmse:.4f}' + ',valid_mae=' + f'{mae:.4f}' + ',lr=' + f'{lr:.4f}':<52}"
          f"ESTABLISHED {time.time() - t0:.1f}s")
print(f"{'tcp':<6}{0:>7} {0:>7} {'127.0.0.1:5000':<34}{'0.0.0.0:*':<52}CLOSE_WAIT done")
