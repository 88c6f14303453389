"""Mead brewing: predict final gravity (FG) of a batch from its brew sheet.

Stage A trains a small encoder on an easy auxiliary target (litres of CO2
released per 10 L batch, logged by every airlock counter we own). Stage B
freezes that encoder and its head, and fits only a new FG head on the much
smaller set of batches that had a hydrometer reading, with a learning-rate
warm-up that starts at exactly 0.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)


def brew_sheets(n):
    honey = rng.uniform(200, 420, n)          # g honey per L must
    tol = rng.uniform(12, 18, n)              # yeast alcohol tolerance, % ABV
    temp = rng.uniform(14, 26, n)             # ferment temperature, C
    nutr = rng.uniform(0, 2.0, n)             # nutrient dose, g/L
    days = rng.uniform(10, 60, n)
    ph0 = rng.uniform(3.2, 4.2, n)
    og = 1.0 + honey * 0.00037                # original gravity
    potential = (og - 1.0) * 131.25           # potential ABV
    speed = 1 - np.exp(-days * (0.03 + 0.004 * (temp - 14) + 0.02 * nutr) * (ph0 - 2.8))
    abv = np.minimum(potential * speed, tol)
    co2 = abv * 0.79 * 0.96 * 10 / 1.98 * 1.0 + rng.normal(0, 0.4, n)  # litres-ish per 10 L
    fg = og - abv / 131.25 + rng.normal(0, 0.0015, n)
    X = np.stack([honey, tol, temp, nutr, days, ph0], 1)
    return X, co2, fg


XA, co2A, _ = brew_sheets(24000)             # airlock-logged batches (aux only)
XB, _, fgB = brew_sheets(1500)               # hydrometer-logged batches
XT, _, fgT = brew_sheets(1000)               # held-out hydrometer batches
mu, sd = XA.mean(0), XA.std(0)
co2_mu, co2_sd = co2A.mean(), co2A.std()
fg_mu, fg_sd = fgB.mean(), fgB.std()


def z(X):
    return mx.array(((X - mu) / sd).astype(np.float32))


XA_, XB_, XT_ = z(XA), z(XB), z(XT)
yA = mx.array(((co2A - co2_mu) / co2_sd).astype(np.float32))
yB = mx.array(((fgB - fg_mu) / fg_sd).astype(np.float32))


class MeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 96), nn.Tanh(), nn.Linear(96, 96), nn.Tanh())
        self.co2_head = nn.Linear(96, 1)
        self.fg_head = nn.Linear(96, 1)

    def __call__(self, x, head):
        h = self.encoder(x)
        return (self.co2_head(h) if head == "co2" else self.fg_head(h)).squeeze(-1)


mx.random.seed(4)
net = MeadNet()
mx.eval(net.parameters())


def loss_co2(model, x, y):
    return nn.losses.mse_loss(model(x, "co2"), y)


def loss_fg(model, x, y):
    return nn.losses.mse_loss(model(x, "fg"), y)


def fg_points(pred_std, truth):
    """Return MAE in gravity points (1 point = 0.001 SG) and share within 2 points (%)."""
    pred = np.array(pred_std) * fg_sd + fg_mu
    err = np.abs(pred - truth) * 1000.0
    return float(err.mean()), float((err <= 2.0).mean() * 100.0)


def leaf_check(grads):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    return len(leaves), zero


t0 = time.time()
# ---------------- stage A: encoder + CO2 head on the airlock log --------------
net.fg_head.freeze()          # not used until stage B
optA = optim.Adam(learning_rate=2e-3)
stepA = nn.value_and_grad(net, loss_co2)
bs = 128
nA = XA_.shape[0]
first = True
for epoch in range(1, 9):
    perm = np.random.default_rng(100 + epoch).permutation(nA)
    tot, cnt = 0.0, 0
    for i in range(0, nA - bs + 1, bs):
        idx = mx.array(perm[i:i + bs])
        loss, grads = stepA(net, XA_[idx], yA[idx])
        if first:
            n, zero = leaf_check(grads)
            print("stage A gradient leaves: %d, zero: %s" % (n, zero))
            first = False
        optA.update(net, grads)
        mx.eval(net.parameters(), optA.state, loss)
        tot += loss.item(); cnt += 1
    print("stage A  epoch %d  co2 mse(std) %.4f  %.1fs" % (epoch, tot / cnt, time.time() - t0))

# ---------------- stage B: freeze encoder + CO2 head, fit FG head -------------
net.freeze()
net.fg_head.unfreeze()
frozen_before = tree_map(lambda a: mx.array(a), net.encoder.parameters())
mx.eval(frozen_before)
n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(net.parameters()))
print("stage B trainable %d of %d parameters" % (n_train, n_all))

warm = 150
total = 1800
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, total - warm, 1e-5)], [warm])
optB = optim.Adam(learning_rate=sched)
stepB = nn.value_and_grad(net, loss_fg)
mae, w2 = fg_points(net(XT_, "fg"), fgT)
print("stage B  step %4d  lr %.2e  train mse(std)      -  test MAE %.2f pts  within 2 pts %5.1f%%"
      % (0, 0.0, mae, w2))
nB = XB_.shape[0]
bs = 64
cursor, perm = nB, None
window = []
for step in range(1, total + 1):
    if cursor + bs > nB:
        perm = rng.permutation(nB)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + bs])
    cursor += bs
    lr_now = float(optB.learning_rate)
    loss, grads = stepB(net, XB_[idx], yB[idx])
    if step == 1:
        n, zero = leaf_check(grads)
        print("stage B gradient leaves: %d, zero: %s, lr of first update %.1e" % (n, zero, lr_now))
    optB.update(net, grads)
    mx.eval(net.parameters(), optB.state, loss)
    window.append(loss.item())
    if step in (1, 50) or step % 300 == 0:
        mae, w2 = fg_points(net(XT_, "fg"), fgT)
        print("stage B  step %4d  lr %.2e  train mse(std) %.4f  test MAE %.2f pts  within 2 pts %5.1f%%"
              % (step, lr_now, float(np.mean(window)), mae, w2))
        window = []

drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
            zip(tree_flatten(net.encoder.parameters()), tree_flatten(frozen_before)))
base = float(np.abs(fgT - fg_mu).mean() * 1000)
print("done in %.1fs: encoder max drift %.1e, predict-mean MAE %.2f pts, noise floor ~1.2 pts"
      % (time.time() - t0, drift, base))
