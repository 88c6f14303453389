"""Ski-wax glide testing: learn a glide score from paired glide runs.

Each test pairs two waxed skis on the same track under the same snow; the
recorded outcome is which ski glided further.  We fit a RankNet-style scorer
s(conditions, wax) so that P(A beats B) = sigmoid(s(A) - s(B)).
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(2024)


def make_tests(n):
    # snow conditions shared by both skis of one test
    temp = rng.uniform(-20, 2, n)          # deg C
    humid = rng.uniform(30, 95, n)         # % RH
    age = rng.uniform(0, 10, n)            # days since snowfall
    cond = np.stack([temp / 10, (humid - 60) / 20, (age - 5) / 3], 1)

    def wax(k):
        hard = rng.uniform(0, 1, k)        # 0 soft (warm) .. 1 hard (cold)
        graph = rng.integers(0, 2, k)      # graphite additive
        struct = rng.uniform(0, 1, k)      # base grind depth
        mol = rng.uniform(0, 1, k)         # molybdenum fraction
        return np.stack([hard * 2 - 1, graph * 2 - 1, struct * 2 - 1, mol * 2 - 1], 1)

    wa, wb = wax(n), wax(n)

    def glide(c, w):
        t, h, a = c[:, 0] * 10, c[:, 1] * 20 + 60, c[:, 2] * 3 + 5
        hard = (w[:, 0] + 1) / 2
        best_hard = np.clip(-t / 18, 0, 1)         # colder -> harder wax
        g = -3.0 * (hard - best_hard) ** 2
        g += 0.6 * w[:, 1] * (a > 5) * (h < 60)     # graphite on old dry snow
        g += 0.5 * ((w[:, 2] + 1) / 2) * (h - 60) / 35   # deep grind when wet
        g += 0.2 * w[:, 3] * np.sin(t / 4)
        return g

    ga, gb = glide(cond, wa), glide(cond, wb)
    p = 1 / (1 + np.exp(-4 * (ga - gb)))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    xa = np.concatenate([cond, wa], 1).astype(np.float32)
    xb = np.concatenate([cond, wb], 1).astype(np.float32)
    oracle = ((ga > gb) == (y > 0.5)).mean()
    # wax-chart rule of thumb: pick the ski whose hardness matches temperature
    chart = np.abs(wa[:, 0] - (np.clip(-cond[:, 0] * 10 / 18, 0, 1) * 2 - 1)) < \
        np.abs(wb[:, 0] - (np.clip(-cond[:, 0] * 10 / 18, 0, 1) * 2 - 1))
    chart_acc = (chart == (y > 0.5)).mean()
    return xa, xb, y, oracle, chart_acc


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1, bias=False)  # a bias cancels in s(A) - s(B)

    def __call__(self, x):
        return self.out(mx.tanh(self.l2(mx.tanh(self.l1(x)))))[:, 0]


def pair_loss(model, xa, xb, y):
    d = model(xa) - model(xb)
    return mx.mean(nn.losses.binary_cross_entropy(d, y, with_logits=True, reduction="none"))


tr = make_tests(6000)
va = make_tests(1200)
te = make_tests(1200)
tr_a, tr_b, tr_y = (mx.array(v) for v in tr[:3])
va_a, va_b, va_y = (mx.array(v) for v in va[:3])
te_a, te_b, te_y = (mx.array(v) for v in te[:3])

mx.random.seed(5)
model = Scorer()
batch = 200
steps_per_epoch = 6000 // batch
max_epochs = 60
warm = 2 * steps_per_epoch
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 1.0, warm),
     optim.cosine_decay(1.0, (max_epochs - 2) * steps_per_epoch, 0.05)],
    [warm])
opt = optim.AdaDelta(learning_rate=lr, rho=0.95)
loss_and_grad = nn.value_and_grad(model, pair_loss)
state = [model.state, opt.state]


def step(xa, xb, y):
    loss, g = loss_and_grad(model, xa, xb, y)
    opt.update(model, g)
    return loss


step = mx.compile(step, inputs=state, outputs=state)


def evaluate(a, b, y):
    d = model(a) - model(b)
    ll = mx.mean(nn.losses.binary_cross_entropy(d, y, with_logits=True, reduction="none"))
    acc = mx.mean((d > 0) == (y > 0.5))
    return ll.item(), 100 * acc.item()


best, best_params, bad, patience = math.inf, None, 0, 5
print(f"train pairs {len(tr[2])}, val {len(va[2])}; chart rule val acc {100*va[4]:.1f}%, "
      f"noise ceiling {100*va[3]:.1f}%")
for epoch in range(1, max_epochs + 1):
    perm = mx.array(rng.permutation(6000))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * batch:(i + 1) * batch]
        loss = step(tr_a[idx], tr_b[idx], tr_y[idx])
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
    ll, acc = evaluate(va_a, va_b, va_y)
    bar = "#" * 10
    mark = ""
    if ll < best - 1e-4:
        best, bad, mark = ll, 0, " *"
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
    else:
        bad += 1
    print(f"epoch {epoch:2d}/{max_epochs}: 100%|{bar}| {steps_per_epoch}/{steps_per_epoch} "
          f"[pair_bce={run/steps_per_epoch:.4f}, lr={opt.learning_rate.item():.3f}] "
          f"val {ll:.4f} / {acc:.1f}%{mark}")
    if bad >= patience:
        print(f"no val improvement for {patience} epochs -> stop, restoring best (val {best:.4f})")
        break

model.update(best_params)
mx.eval(model.parameters())
ll, acc = evaluate(te_a, te_b, te_y)
print(f"test: bce {ll:.4f}  agree {acc:.1f}%  | chart rule {100*te[4]:.1f}%  "
      f"noise ceiling {100*te[3]:.1f}%  coin {50.0:.1f}%")
