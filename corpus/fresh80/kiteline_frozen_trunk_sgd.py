# Kitesurf line tension (daN) from 8 anemometer / board features.
# Stage 1: a trunk+head is trained on a plentiful auxiliary target (gust factor).
# Stage 2: the trunk is frozen on purpose and a fresh head is fitted on the scarce
# tension labels with a hand-written momentum SGD whose lr warms up from exactly 0.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(2024)


def simulate(n):
    wind = rng.uniform(4, 16, n)                  # m/s
    gust = rng.uniform(0, 1, n)
    kite = rng.choice([7.0, 9.0, 12.0], n)        # m2
    rider = rng.uniform(55, 95, n)                 # kg
    angle = rng.uniform(-0.6, 0.6, n)              # rad from edge of window
    chop = rng.uniform(0, 1, n)
    bar = rng.uniform(0, 1, n)                     # bar pulled in
    temp = rng.uniform(8, 28, n)
    gust_factor = 1 + 0.35 * gust * (1 + 0.5 * chop) + rng.normal(0, 0.03, n)
    eff = wind * gust_factor
    tension = 0.045 * kite * eff ** 2 * np.cos(angle) ** 2 * (0.6 + 0.4 * bar) * (1 - 0.002 * (temp - 15)) \
        + 0.05 * rider + rng.normal(0, 1.5, n)
    X = np.stack([wind, gust, kite, rider, angle, chop, bar, temp], 1).astype(np.float32)
    return X, gust_factor.astype(np.float32), tension.astype(np.float32)


Xa, ga, _ = simulate(20000)        # auxiliary: lots of gust-factor labels
Xt, _, tt = simulate(1500)         # scarce tension labels
Xv, _, tv = simulate(3000)         # tension validation
mu, sd = Xa.mean(0), Xa.std(0)
norm = lambda X: mx.array((X - mu) / sd)
Xa, Xt, Xv = norm(Xa), norm(Xt), norm(Xv)
g_mu, g_sd = ga.mean(), ga.std()
t_mu, t_sd = tt.mean(), tt.std()
ga = mx.array((ga - g_mu) / g_sd)
tt_n = mx.array((tt - t_mu) / t_sd)
tv_m = mx.array(tv)


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 96)
        self.b = nn.Linear(96, 96)

    def __call__(self, x):
        return nn.silu(self.b(nn.silu(self.a(x))))


class Net(nn.Module):
    def __init__(self, trunk):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Sequential(nn.Linear(96, 32), nn.SiLU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


class MomentumSGD:
    def __init__(self, model, mu=0.9):
        self.mu = mu
        self.vel = tree_map(mx.zeros_like, model.trainable_parameters())

    def step(self, model, grads, lr):
        self.vel = tree_map(lambda v, g: self.mu * v + g, self.vel, grads)
        new = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), self.vel)
        model.update(new)


def emit(*fields):
    print(*fields, sep=" ; ")


def grad_audit(stage, grads, model):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if mx.abs(g).max().item() == 0.0]
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    emit(stage, "grad leaves %d" % len(leaves), "zero %s" % zero, "trainable %d of %d params" % (n_train, n_all))


def train(model, X, y, steps, bs, peak_lr, warm, stage, report, on_report):
    lag = nn.value_and_grad(model, mse)
    sgd = MomentumSGD(model)
    n = X.shape[0]
    perm, cur = rng.permutation(n), 0
    window = []
    t0 = time.time()
    for s in range(1, steps + 1):
        if cur + bs > n:
            perm, cur = rng.permutation(n), 0
        idx = mx.array(perm[cur:cur + bs])
        cur += bs
        lr = peak_lr * min(1.0, (s - 1) / warm) * 0.5 * (1 + math.cos(math.pi * (s - 1) / steps))
        loss, grads = lag(model, X[idx], y[idx])
        if s == 1:
            grad_audit(stage, grads, model)
        sgd.step(model, grads, lr)
        mx.eval(model.parameters(), sgd.vel, loss)
        window.append(loss.item())
        if s in report:
            on_report(s, lr, float(np.mean(window)), time.time() - t0)
            window = []


def tension_scores(model):
    pred = model(Xv) * t_sd + t_mu
    rmse = mx.sqrt(((pred - tv_m) ** 2).mean()).item()
    ev = 100 * (1 - ((pred - tv_m) ** 2).mean().item() / float(np.var(tv)))
    return rmse, ev


mx.random.seed(0)
trunk = Trunk()
aux = Net(trunk)
mx.eval(aux.parameters())
emit("stage 1", "auxiliary gust-factor task", "20000 samples")
train(aux, Xa, ga, 1500, 128, 0.05, 100, "stage 1",
      {1, 100, 500, 1000, 1500},
      lambda s, lr, w, t: emit("stage 1", "step %d" % s, "lr %.4f" % lr, "train mse(std) %.4f" % w, "%.1fs" % t))

trunk.freeze()
model = Net(trunk)                 # fresh head, shared (frozen) trunk
mx.eval(model.parameters())
snapshot = tree_map(lambda a: mx.array(a), trunk.parameters())
rmse0, ev0 = tension_scores(model)
emit("stage 2", "tension labels %d" % Xt.shape[0], "predict-mean rmse %.2f daN" % float(np.std(tv)),
     "untrained rmse %.2f daN" % rmse0, "explained %.1f%%" % ev0)
train(model, Xt, tt_n, 1200, 64, 0.02, 150, "stage 2",
      {1, 50, 150, 300, 600, 900, 1200},
      lambda s, lr, w, t: emit("stage 2", "step %d" % s, "lr %.4f" % lr, "train mse(std) %.4f" % w,
                               "val rmse %.2f daN" % tension_scores(model)[0],
                               "explained %.1f%%" % tension_scores(model)[1], "%.1fs" % t))
drift = max(mx.abs(a - b).max().item() for (_, a), (_, b) in
            zip(tree_flatten(trunk.parameters()), tree_flatten(snapshot)))
rmse, ev = tension_scores(model)
emit("done", "val rmse %.2f daN" % rmse, "explained %.1f%%" % ev, "noise floor 1.50 daN", "frozen trunk max drift %.1e" % drift)
