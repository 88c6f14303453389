# Snow-crystal habit from the Nakaya diagram: plate / needle / column / dendrite
# Two stages: "lab" (clean chamber readings) then "field" (noisy thermometer + mislabelled
# crystals). Lion optimizer, LR warmup from exactly 0, compiled step, early stop + restore.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
HABITS = ["plate", "needle", "column", "dendrite"]


def nakaya(T, s):
    # T in deg C (negative), s = supersaturation (g/m^3)
    lab = np.zeros(T.shape, dtype=np.int32)
    lab[(T < -3) & (T >= -8) & (s >= 0.12)] = 1
    lab[(T < -3) & (T >= -8) & (s < 0.12)] = 2
    lab[(T < -8) & (T >= -22) & (s >= 0.15) & (T <= -11) & (T >= -17)] = 3
    lab[T < -22] = 2
    return lab


def make(n, t_noise=0.0, flip=0.0):
    T = rng.uniform(-28, 0, n)
    s = rng.uniform(0, 0.3, n)
    y = nakaya(T, s)
    P = rng.normal(850, 40, n)       # pressure hPa, nuisance
    W = rng.gamma(2.0, 1.5, n)       # wind m/s, nuisance
    Tm = T + rng.normal(0, t_noise, n)
    X = np.stack([Tm / 10.0, s * 10.0, (P - 850) / 40, W / 3.0], 1).astype(np.float32)
    if flip > 0:
        k = rng.random(n) < flip
        y = y.copy()
        y[k] = rng.integers(0, 4, k.sum())
    return X, y


def temp_rule(X):
    # forecaster's shortcut: temperature band only, ignores supersaturation
    T = X[:, 0] * 10.0
    out = np.zeros(len(T), dtype=np.int32)
    out[(T < -3) & (T >= -8)] = 2
    out[T < -22] = 2
    return out


Xtr_lab, ytr_lab = make(3000)
Xtr_field, ytr_field = make(3000, t_noise=1.5, flip=0.10)
Xva, yva = make(1200)
rule_err = 100.0 * float(np.mean(temp_rule(Xva) != yva))


class HabitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


mx.random.seed(3)
model = HabitNet()
STEPS_PER_EPOCH = 3000 // 100
WARM = 40
TOTAL = 2 * 14 * STEPS_PER_EPOCH
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, WARM), optim.cosine_decay(1e-3, TOTAL - WARM, 1e-5)], [WARM])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


# gradient reach check before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr_lab[:256]), mx.array(ytr_lab[:256]))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "params": len(tree_flatten(g0)), "zero_grad": dead}))

state = [model.state, opt.state]


@mx.compile
def step(x, y):
    l, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return l


step = mx.compile(step, inputs=state, outputs=state)


def val_err():
    p = mx.argmax(model(mx.array(Xva)), axis=1)
    return 100.0 * float(mx.mean(p != mx.array(yva)))


best = (math.inf, None, None)
patience, bad = 4, 0
for stage, (X, Y) in [("lab", (Xtr_lab, ytr_lab)), ("field", (Xtr_field, ytr_field))]:
    bad = 0
    for ep in range(1, 15):
        perm = rng.permutation(len(X))
        tot = 0.0
        for i in range(STEPS_PER_EPOCH):
            idx = perm[i * 100:(i + 1) * 100]
            l = step(mx.array(X[idx]), mx.array(Y[idx]))
            mx.eval(l, state)
            tot += float(l)
        ve = val_err()
        rec = {"stage": stage, "ep": ep, "xent": round(tot / STEPS_PER_EPOCH, 4),
               "lr": float(opt.learning_rate), "val_err_pct": round(ve, 2),
               "rule_err_pct": round(rule_err, 2)}
        print(json.dumps(rec))
        if ve < best[0] - 1e-9:
            best = (ve, tree_map(lambda a: mx.array(a), model.parameters()), (stage, ep))
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                print(json.dumps({"event": "early_stop", "stage": stage, "ep": ep}))
                break

model.update(best[1])
mx.eval(model.parameters())
final = val_err()
print(json.dumps({"event": "restored", "from": best[2], "val_err_pct": round(final, 2),
                  "rule_err_pct": round(rule_err, 2), "chance_err_pct": 75.0}))
