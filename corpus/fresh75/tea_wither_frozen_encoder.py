"""Tea grading: pretrain a spectral autoencoder on unlabelled withering-trough scans,
then freeze its encoder and train a small grade head on the few graded lots."""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["FTGFOP", "TGFOP", "FOP", "BOP"]
rng = np.random.default_rng(11)


def log(fmt, *args):
    sys.stderr.write(time.strftime("%H:%M:%S ") + (fmt % args) + "\n")


def make_scans(n):
    moisture = rng.uniform(0.55, 0.75, n)      # leaf moisture after withering
    catechin = rng.normal(0.0, 1.0, n)
    oxid = rng.normal(0.0, 1.0, n)
    bands = np.linspace(0.0, 1.0, 12)
    spec = (np.outer(moisture, np.exp(-((bands - 0.8) / 0.15) ** 2)) * 3.0
            + np.outer(catechin, np.sin(3.0 * bands))
            + np.outer(oxid, np.cos(2.0 * bands + 0.5)) * 0.8
            + rng.normal(0, 0.08, (n, 12)))
    score = 1.6 * catechin - 1.1 * oxid + 8.0 * (moisture - 0.65)
    grade = np.digitize(score, [-1.2, 0.0, 1.2])
    return spec.astype(np.float32), (3 - grade).astype(np.int32)


X_unl, _ = make_scans(6000)
X_lab, y_lab = make_scans(300)
X_test, y_test = make_scans(1500)
mu, sd = X_unl.mean(0), X_unl.std(0) + 1e-6
X_unl, X_lab, X_test = [(a - mu) / sd for a in (X_unl, X_lab, X_test)]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(12, 48)
        self.l2 = nn.Linear(48, 6)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 12))

    def __call__(self, x):
        return self.decoder(self.encoder(x))


class GradeNet(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 4))

    def __call__(self, x):
        return self.head(self.encoder(x))


def batches(n, bs, seed):
    order = np.random.default_rng(seed).permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield order[i:i + bs]


t0 = time.time()
log("data: %d unlabelled, %d graded, %d test scans; chance %.1f%%",
    len(X_unl), len(X_lab), len(X_test), 100.0 / len(GRADES))

# ---- stage 1: autoencoder pretraining --------------------------------------------
mx.random.seed(3)
ae = AutoEncoder()
ae_opt = optim.Adam(learning_rate=2e-3)


def ae_loss(m, x):
    return nn.losses.mse_loss(m(x), x)


ae_step = nn.value_and_grad(ae, ae_loss)
Xu = mx.array(X_unl)
log("stage 1 untrained reconstruction mse %.4f", ae_loss(ae, Xu).item())
for epoch in range(1, 7):
    tot, k = 0.0, 0
    for idx in batches(len(X_unl), 100, epoch):
        loss, g = ae_step(ae, Xu[mx.array(idx)])
        ae_opt.update(ae, g)
        mx.eval(ae.parameters(), ae_opt.state, loss)
        tot += loss.item()
        k += 1
    log("stage 1 epoch %d  recon mse %.4f  (%.1fs)", epoch, tot / k, time.time() - t0)

# ---- stage 2: frozen encoder, trainable head -------------------------------------
mx.random.seed(4)
net = GradeNet(ae.encoder)
net.encoder.freeze()
frozen_before = {k: np.array(v) for k, v in tree_flatten(net.encoder.parameters())}
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(net, ce)
Xl, yl = mx.array(X_lab), mx.array(y_lab)
Xt, yt = mx.array(X_test), mx.array(y_test)


def accuracy(x, y):
    return 100.0 * mx.mean(mx.argmax(net(x), axis=1) == y).item()


_, g0 = step(net, Xl[:30], yl[:30])
leaves = tree_flatten(g0)
nz = sum(1 for _, v in leaves if mx.any(v != 0).item())
log("stage 2 first-step gradient: %d trainable leaves, %d non-zero (%s)",
    len(leaves), nz, ", ".join(k for k, _ in leaves))
log("stage 2 untrained: test ce %.4f  test acc %.1f%%", ce(net, Xt, yt).item(), accuracy(Xt, yt))

for epoch in range(1, 41):
    tot, k = 0.0, 0
    for idx in batches(len(X_lab), 30, 100 + epoch):
        ii = mx.array(idx)
        loss, g = step(net, Xl[ii], yl[ii])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
        k += 1
    if epoch in (1, 2, 5, 10, 20, 30, 40):
        log("stage 2 epoch %2d  train ce %.4f  test ce %.4f  train acc %5.1f%%  test acc %5.1f%%",
            epoch, tot / k, ce(net, Xt, yt).item(), accuracy(Xl, yl), accuracy(Xt, yt))

drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
            for k, v in tree_flatten(net.encoder.parameters()))
pred = np.array(mx.argmax(net(Xt), axis=1))
for c, name in enumerate(GRADES):
    m = y_test == c
    log("recall %-7s %5.1f%%  (n=%d)", name, 100.0 * (pred[m] == c).mean(), m.sum())
log("done: frozen encoder max change %.1e, %.1fs total", drift, time.time() - t0)
