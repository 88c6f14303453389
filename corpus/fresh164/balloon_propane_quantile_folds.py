# Hot-air balloon operator: how much propane will a flight burn?
# Quantile regression (q10 / q50 / q90) of burn in kg from the pilot's pre-flight sheet,
# 4-fold cross-validation, compiled RMSprop step, warm-up from lr 0, early stop + restore.
from functools import partial
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(11)
mx.random.seed(11)

QS = (0.1, 0.5, 0.9)


def flight():
    vol = random.choice([2200, 2600, 3000, 3400, 4200])          # envelope m^3
    amb = random.uniform(-5.0, 32.0)                              # deg C
    pax = random.randint(1, 8) * 80 + 75                          # payload kg incl. pilot
    mins = random.uniform(35.0, 95.0)
    alt = random.uniform(150.0, 1300.0)                           # launch field m
    wind = random.uniform(0.0, 7.0)                               # m/s
    lift_need = (pax + 0.085 * vol) / (vol * (0.35 - 0.004 * amb))
    rate = 9.0 + 26.0 * lift_need + 0.0035 * alt + 0.6 * wind   # kg/h, made up
    burn = rate * mins / 60.0
    burn *= random.lognormvariate(0.0, 0.06 + 0.02 * wind)        # gusty days are less predictable
    x = [vol / 1000.0, amb / 10.0, pax / 300.0, mins / 30.0, alt / 500.0, wind / 3.0]
    return x, burn


rows = [flight() for _ in range(1600)]
X = mx.array([r[0] for r in rows])
Y = mx.array([r[1] for r in rows])
xm, xs = X.mean(0), X.std(0)
X = (X - xm) / xs
N = X.shape[0]
folds = [list(range(k, N, 4)) for k in range(4)]


class BurnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, len(QS))

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def pinball(pred, y):
    q = mx.array(QS)
    d = y[:, None] - pred
    return mx.maximum(q * d, (q - 1.0) * d).mean(0)   # one value per quantile


def loss_fn(model, x, y, scale):
    return pinball(model(x), y / scale).sum()


hdr = f"{'ep':>4} {'lr':>9} {'pb10':>7} {'pb50':>7} {'pb90':>7} | {'valMAE kg':>9} {'cover80':>7} {'clim MAE':>8}"
results = []
t0 = time.time()
for k in range(4):
    va = mx.array(folds[k])
    tr = mx.array([i for j in range(4) if j != k for i in folds[j]])
    Xtr, Ytr, Xva, Yva = X[tr], Y[tr], X[va], Y[va]
    scale = float(Ytr.mean().item())
    clim = mx.abs(Yva - Ytr.mean()).mean().item()   # "climatology": always predict the train mean

    model = BurnNet()
    steps_per, epochs = Xtr.shape[0] // 64, 70
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, steps_per * epochs, 1e-5)], [60])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    grad_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y, s):
        loss, g = grad_fn(model, x, y, s)
        opt.update(model, g)
        return loss

    s_arr = mx.array(scale)
    if k == 0:
        _, g0 = grad_fn(model, Xtr[:64], Ytr[:64], s_arr)
        zero = [n for n, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
        print(f"grad audit: {len(tree_flatten(g0))} tensors, all-zero: {zero or 'none'}")
    print(f"\n== fold {k + 1}/4  train {Xtr.shape[0]}  val {Xva.shape[0]}  climatology MAE {clim:.2f} kg ==")
    print(hdr)
    best, best_ep, wait = float("inf"), 0, 0
    best_params = None
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(Xtr.shape[0])
        for b in range(steps_per):
            idx = perm[b * 64:(b + 1) * 64]
            loss = step(Xtr[idx], Ytr[idx], s_arr)
            mx.eval(loss, model.parameters(), opt.state)
        pv = model(Xva) * scale
        pbs = pinball(pv / scale, Yva / scale)
        vscore = pbs.sum().item()
        mae = mx.abs(pv[:, 1] - Yva).mean().item()
        cover = ((Yva >= pv[:, 0]) & (Yva <= pv[:, 2])).astype(mx.float32).mean().item()
        if vscore < best - 1e-5:
            best, best_ep, wait = vscore, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        if ep == 1 or ep % 10 == 0:
            lr = opt.learning_rate.item()
            p = pbs.tolist()
            print(f"{ep:>4} {lr:>9.2e} {p[0]:>7.4f} {p[1]:>7.4f} {p[2]:>7.4f} | {mae:>9.2f} {100 * cover:>6.1f}% {clim:>8.2f}")
        if wait >= 12:
            break
    model.update(best_params)
    pv = model(Xva) * scale
    mae = mx.abs(pv[:, 1] - Yva).mean().item()
    cover = ((Yva >= pv[:, 0]) & (Yva <= pv[:, 2])).astype(mx.float32).mean().item()
    print(f"-- fold {k + 1}: stopped ep {ep}, restored ep {best_ep} (val pinball {best:.4f}) "
          f"MAE {mae:.2f} kg vs climatology {clim:.2f} kg, 80% band covers {100 * cover:.1f}%")
    results.append((k + 1, best_ep, best, mae, clim, cover))

print("\nfold | best ep | val pinball | MAE kg | clim kg | cover80")
for r in results:
    print(f"{r[0]:>4} | {r[1]:>7} | {r[2]:>11.4f} | {r[3]:>6.2f} | {r[4]:>7.2f} | {100 * r[5]:>6.1f}%")
m = [sum(r[i] for r in results) / 4 for i in (2, 3, 4, 5)]
print(f"mean |         | {m[0]:>11.4f} | {m[1]:>6.2f} | {m[2]:>7.2f} | {100 * m[3]:>6.1f}%   ({time.time() - t0:.1f}s)")
