"""Packing-house rind blemish detector: binary reject call per fruit, checked per line and on the late harvest."""
import csv
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LINES = ["line A (old camera)", "line B", "line C (fast belt)"]
rng = np.random.default_rng(23)
mx.random.seed(23)
out = csv.writer(sys.stdout)


def harvest(n, late=False):
    line = rng.choice(3, n, p=[0.3, 0.45, 0.25])
    z = rng.standard_normal((n, 12))
    if late:
        z[:, 4:8] += 0.5                     # paler, waxier late-season rind
    score = 1.3 * z[:, 0] - 1.0 * z[:, 1] + 0.8 * z[:, 2] * z[:, 3] + 0.6 * np.sin(2 * z[:, 5]) - 1.4
    y = (rng.random(n) < 1 / (1 + np.exp(-2.0 * score))).astype(np.float32)
    blur = np.array([0.6, 0.2, 0.4])[line]     # camera noise on the measured features
    x = z + blur[:, None] * rng.standard_normal((n, 12))
    return x.astype(np.float32), y, line


x_tr, y_tr, l_tr = harvest(10000)
x_ca, y_ca, l_ca = harvest(2000)         # calibration split
x_te, y_te, l_te = harvest(4000)
x_lt, y_lt, l_lt = harvest(4000, late=True)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(12, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x))))).squeeze(-1)


class Temperature(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_t = mx.zeros((1,))

    def __call__(self, logits):
        return logits / mx.exp(self.log_t)


model = Grader()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)


def bce(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")


@partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
def train_step(x, y):
    loss, g = nn.value_and_grad(model, bce)(model, x, y)
    opt.update(model, g)
    return loss


def auc(y, s):
    order = np.argsort(s)
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


def ece(y, p, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    tot = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & (p < hi) if hi < 1 else (p >= lo)
        if m.any():
            tot += m.mean() * abs(p[m].mean() - y[m].mean())
    return tot


t0 = time.time()
prior = y_tr.mean()
base = -(prior * np.log(prior) + (1 - prior) * np.log(1 - prior))
out.writerow(["#", f"reject share {prior:.3f}", f"constant-guess BCE {base:.4f} nats"])
out.writerow(["stage", "epoch", "lr", "train_bce", "test_bce", "test_auc", "secs"])
Xtr, Ytr = mx.array(x_tr), mx.array(y_tr)
EPOCHS, B = 24, 128
for epoch in range(1, EPOCHS + 1):
    opt.learning_rate = 0.05 * (0.5 ** ((epoch - 1) // 8))   # step decay every 8 epochs
    perm = mx.array(rng.permutation(len(y_tr)).astype(np.int32))
    tot, nb = 0.0, len(y_tr) // B
    for i in range(nb):
        idx = perm[i * B:(i + 1) * B]
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.state, opt.state)
        tot += loss.item()
    if epoch in (1, 8, 16, 24):
        lt = model(mx.array(x_te))
        tb = bce(model, mx.array(x_te), mx.array(y_te)).item()
        out.writerow(["fit", epoch, f"{opt.learning_rate.item():.4f}", f"{tot / nb:.4f}", f"{tb:.4f}",
                      f"{auc(y_te, np.array(lt)):.4f}", f"{time.time() - t0:.1f}"])

# stage 2: temperature on the calibration split, grader frozen
model.freeze()
logit_ca = mx.stop_gradient(model(mx.array(x_ca)))
temp = Temperature()
topt = optim.Adam(learning_rate=0.05)
tgrad = nn.value_and_grad(temp, lambda t, z, y: nn.losses.binary_cross_entropy(t(z), y, with_logits=True))
for it in range(1, 201):
    l, g = tgrad(temp, logit_ca, mx.array(y_ca))
    topt.update(temp, g)
    mx.eval(temp.parameters(), topt.state)
    if it in (1, 50, 200):
        out.writerow(["calib", it, "0.0500", f"{l.item():.4f}", "", "", f"{time.time() - t0:.1f}"])
T = float(np.exp(temp.log_t.item()))
out.writerow(["#", f"temperature {T:.3f}", f"grader trainable arrays {len(tree_flatten(model.trainable_parameters()))}"])


def probs(x, scaled):
    z = model(mx.array(x))
    if scaled:
        z = temp(z)
    return np.array(mx.sigmoid(z))


out.writerow(["subset", "n", "reject_share", "auc", "ece_raw", "ece_scaled", "acc@0.5", "always_pass_acc"])
for name, x, y, l in (("in-season", x_te, y_te, l_te), ("late harvest", x_lt, y_lt, l_lt)):
    pr, ps = probs(x, False), probs(x, True)
    for k in range(4):
        m = np.ones(len(y), bool) if k == 3 else (l == k)
        tag = f"{name} / {'all lines' if k == 3 else LINES[k]}"
        out.writerow([tag, int(m.sum()), f"{y[m].mean():.3f}", f"{auc(y[m], ps[m]):.4f}",
                      f"{ece(y[m], pr[m]):.4f}", f"{ece(y[m], ps[m]):.4f}",
                      f"{np.mean((ps[m] > 0.5) == y[m]):.4f}", f"{np.mean(y[m] == 0):.4f}"])
out.writerow(["#", f"done {time.time() - t0:.1f}s"])
