"""Alpine refuge guest counts: overnight guests per refuge-night from weather,
calendar and access features (synthetic), Poisson regression with a log-rate
head. Before the real run, the first 40 updates are replayed twice from the
same starting weights, once with compilation disabled and once compiled, and
the two parameter sets are compared. The learning rate is cut by a
hand-written plateau rule; it lives in optimizer.state, which the compiled
step carries as state, so a cut needs no new trace.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(237)
mx.random.seed(237)

F = 8


def make_nights(n):
    doy = rng.uniform(0, 2 * np.pi, n)
    weekend = (rng.uniform(size=n) < 2 / 7).astype(np.float32)
    sun = rng.uniform(0, 1, n)
    snow = np.clip(rng.normal(0.3, 0.3, n), 0, 1.5)
    wind = rng.gamma(2.0, 6.0, n)
    cable_car = (rng.uniform(size=n) < 0.6).astype(np.float32)
    alt = rng.uniform(1.8, 3.4, n)
    x = np.stack([np.sin(doy), np.cos(doy), weekend, sun, snow, wind / 20, cable_car, alt - 2.6], 1).astype(np.float32)
    summer = np.exp(1.6 * np.cos(doy - np.pi))
    log_rate = (
        1.2 + 0.9 * np.log(summer + 0.2) + 0.6 * weekend + 0.8 * sun - 0.9 * snow * (1 - cable_car)
        - 0.04 * wind + 0.5 * cable_car - 0.6 * np.maximum(alt - 2.9, 0) * (1 + snow)
    )
    y = rng.poisson(np.exp(log_rate)).astype(np.float32)
    return x, y


x_tr, y_tr = make_nights(9000)
x_va, y_va = make_nights(2000)
X_tr, Y_tr, X_va, Y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))


class RefugeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(F, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.rate = nn.Linear(64, 1)

    def __call__(self, x):
        return self.rate(self.body(x)).squeeze(-1)


def poisson_nll(model, x, y):
    log_mu = model(x)
    return mx.mean(mx.exp(log_mu) - y * log_mu)


def deviance(log_mu, y):
    mu = mx.exp(log_mu)
    term = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-9) / mu), 0.0)
    return float(mx.mean(2 * (term - (y - mu))))


const_dev = deviance(mx.full(Y_va.shape, float(np.log(y_tr.mean()))), Y_va)
BSZ = 128
STEPS_PER_EPOCH = len(y_tr) // BSZ


def make_run(init_params):
    model = RefugeNet()
    model.update(tree_map(lambda a: mx.array(a), init_params))
    opt = optim.Adam(learning_rate=3e-3)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, poisson_nll)(model, x, y)
        opt.update(model, grads)
        return loss

    return model, opt, state, step


def batch_order(seed):
    r = np.random.default_rng(seed)
    return r.permutation(len(y_tr))[: STEPS_PER_EPOCH * BSZ].reshape(STEPS_PER_EPOCH, BSZ)


proto = RefugeNet()
mx.eval(proto.parameters())
init = tree_map(lambda a: np.array(a), proto.parameters())

# replay audit: same weights, same batches, eager vs compiled
order0 = batch_order(0)
finals = []
for mode in ("eager", "compiled"):
    if mode == "eager":
        mx.disable_compile()
    else:
        mx.enable_compile()
    m, o, st, stp = make_run(init)
    for i in range(40):
        idx = mx.array(order0[i])
        mx.eval(stp(X_tr[idx], Y_tr[idx]), st)
    finals.append(dict(tree_flatten(m.parameters())))
gap = max(float(mx.abs(finals[0][k] - finals[1][k]).max()) for k in finals[0])
print(f"replay audit   40 updates, eager vs compiled, max |param diff| = {gap:.2e}")

model, opt, state, step = make_run(init)
_, g = nn.value_and_grad(model, poisson_nll)(model, X_tr[:BSZ], Y_tr[:BSZ])
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
print(f"gradient audit {len(tree_flatten(g))} leaves, zero: {zero if zero else 'none'}")
print(f"reference      intercept-only val deviance {const_dev:.4f}  (mean guests {y_tr.mean():.2f})")

best, bad, cuts = float("inf"), 0, 0
PATIENCE, EPOCHS, MIN_LR = 2, 30, 1e-5
t_start = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    order = batch_order(ep)
    tot = 0.0
    for i in range(STEPS_PER_EPOCH):
        idx = mx.array(order[i])
        loss = step(X_tr[idx], Y_tr[idx])
        mx.eval(loss, state)
        tot += float(loss)
    val_dev = deviance(model(X_va), Y_va)
    lr = float(opt.learning_rate)
    if val_dev < best - 1e-3:
        best, bad = val_dev, 0
        print(f"epoch {ep:2d}     lr {lr:.1e}  train nll {tot / STEPS_PER_EPOCH:.4f}  val deviance {val_dev:.4f}  "
              f"explained {100 * (1 - val_dev / const_dev):5.1f}%  new best")
    else:
        bad += 1
        if bad >= PATIENCE and lr > MIN_LR * 1.01:
            new_lr = max(lr * 0.3, MIN_LR)
            opt.learning_rate = new_lr
            cuts += 1
            bad = 0
            print(f"epoch {ep:2d}     lr {lr:.1e} -> {new_lr:.1e}  (val deviance {val_dev:.4f}, no gain for {PATIENCE} epochs)")
print(f"finished       {EPOCHS} epochs, {cuts} lr cuts, best val deviance {best:.4f} vs intercept-only {const_dev:.4f}, "
      f"{time.perf_counter() - t_start:.1f}s")
