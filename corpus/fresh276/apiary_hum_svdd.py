# Beehive acoustic/weight monitor: one-class Deep SVDD (soft boundary) on
# synthetic per-hour hive readings. The training pool is unlabeled and holds a
# small share of swarming / queenless hours. Radius is re-fit from a quantile of
# the distances every few epochs, which makes the objective jump on purpose.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
D = 10  # hum Hz, hum dB, weight delta, inner temp, humidity, CO2, flight count, ...

def normal_hours(n):
    z = rng.normal(size=(n, 3))
    mix = np.array([[1.0, 0.4, -0.2], [0.3, 0.9, 0.1], [-0.5, 0.2, 0.8]])
    h = np.tanh(z @ mix)
    x = np.concatenate([h, h ** 2 - 0.3, np.sin(2 * h[:, :2]), h[:, :2] * h[:, 2:3]], axis=1)
    return (x + 0.05 * rng.normal(size=x.shape)).astype(np.float32)

def odd_hours(n):
    # every reading plausible on its own, but taken from hours that do not
    # belong together (colony rhythm lost): same marginals, different joint
    x = normal_hours(n)
    for j in range(D):
        x[:, j] = x[rng.permutation(n), j]
    return x.astype(np.float32)

n_train, contamination = 3000, 0.04
n_bad = int(n_train * contamination)
X_train = np.concatenate([normal_hours(n_train - n_bad), odd_hours(n_bad)])
X_train = X_train[rng.permutation(n_train)]
mu, sd = X_train.mean(0), X_train.std(0) + 1e-6
X_train = (X_train - mu) / sd
X_test = np.concatenate([normal_hours(900), odd_hours(100)])
y_test = np.concatenate([np.zeros(900), np.ones(100)])
X_test = ((X_test - mu) / sd).astype(np.float32)

def auroc(score, y):
    order = np.argsort(score)
    ranks = np.empty(len(score)); ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())

class Encoder(nn.Module):
    # no biases: keeps the map from collapsing onto the centre
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 48, bias=False)
        self.l2 = nn.Linear(48, 24, bias=False)
        self.l3 = nn.Linear(24, 8, bias=False)
    def __call__(self, x):
        return self.l3(nn.leaky_relu(self.l2(nn.leaky_relu(self.l1(x)))))

mx.random.seed(3)
net = Encoder()
mx.eval(net.parameters())
Xtr = mx.array(X_train); Xte = mx.array(X_test)
c = net(Xtr).mean(axis=0)
c = mx.where(mx.abs(c) < 0.01, 0.01 * mx.sign(c + 1e-9), c)  # keep coords off zero
mx.eval(c)
nu = 0.05
R2 = mx.array(0.0)

def dist2(model, x):
    return ((model(x) - c) ** 2).sum(axis=1)

def objective(model, x, r2):
    d = dist2(model, x)
    return r2 + (1.0 / nu) * mx.maximum(d - r2, 0.0).mean()

epochs, bs, warm = 40, 100, 3
steps_per_epoch = n_train // bs
total = epochs * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm * steps_per_epoch),
     optim.cosine_decay(3e-3, total - warm * steps_per_epoch, 1e-4)],
    [warm * steps_per_epoch])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(net, objective)

raw = np.linalg.norm(X_test, axis=1)  # baseline: distance to the mean in input space
print(f"baseline raw-norm AUROC {auroc(raw, y_test):.3f}")
print(f"epoch 0 test AUROC {auroc(np.array(dist2(net, Xte)), y_test):.3f} (random init)")

ckpt = os.path.join(tempfile.mkdtemp(), "svdd.safetensors")
t0 = time.time()
ep = 0
resumed = False
while ep < epochs:
    perm = rng.permutation(n_train)
    tot = 0.0
    for i in range(steps_per_epoch):
        xb = Xtr[mx.array(perm[i * bs:(i + 1) * bs])]
        loss, g = vg(net, xb, R2)
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
    ep += 1
    if ep >= 5 and ep % 5 == 0:  # re-fit radius from the (1-nu) quantile
        d_all = np.array(dist2(net, Xtr))
        R2 = mx.array(float(np.quantile(d_all, 1 - nu)))
    if ep % 4 == 0 or ep == 1:
        s = np.array(dist2(net, Xte))
        print(f"epoch {ep:2d} lr {sched(opt.step).item():.5f} objective {tot / steps_per_epoch:.4f} "
              f"R^2 {R2.item():.4f} test AUROC {auroc(s, y_test):.3f}")
    if ep == 20 and not resumed:
        net.save_weights(ckpt)
        saved_state = (opt.step.item(), R2.item())
        print(f"checkpoint saved at epoch {ep}; simulating restart")
        net = Encoder(); net.load_weights(ckpt)
        opt_state = opt.state
        opt = optim.Adam(learning_rate=sched); opt.state = opt_state
        vg = nn.value_and_grad(net, objective)
        R2 = mx.array(saved_state[1])
        resumed = True
        print(f"resumed from step {opt.step.item()} R^2 {R2.item():.4f}")

s = np.array(dist2(net, Xte))
thr = float(R2.item())
flag = s > thr
prec = (flag & (y_test == 1)).sum() / max(flag.sum(), 1)
rec = (flag & (y_test == 1)).sum() / (y_test == 1).sum()
frac_train_out = float((np.array(dist2(net, Xtr)) > thr).mean())
print(f"final test AUROC {auroc(s, y_test):.3f} vs baseline {auroc(raw, y_test):.3f}")
print(f"threshold R^2 {thr:.4f} flags {flag.mean()*100:.1f}% of test; precision {prec:.2f} recall {rec:.2f}")
print(f"train share outside sphere {frac_train_out:.3f} (nu={nu})  time {time.time()-t0:.1f}s")
