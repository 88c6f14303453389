"""Tea blending bench: which optimizer fits the cupping-score model best?

Six copies of one small network start from identical weights and are fed the
identical minibatch at every step, one optimizer family each.  A cupping score
(points) is regressed from seven blend-sheet readings.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

# ------------------------------------------------------------------ data
N_TRAIN, N_VAL = 8000, 1500


def make_blends(n):
    assam = rng.uniform(0.0, 1.0, n)            # share of Assam in the blend
    ceylon = rng.uniform(0.0, 1.0 - assam)      # share of Ceylon
    leaf_grade = rng.integers(0, 5, n)          # 0 = dust ... 4 = whole leaf
    water_c = rng.uniform(80.0, 100.0, n)       # brewing temperature
    steep_min = rng.uniform(1.5, 7.0, n)        # steeping time
    water_ppm = rng.uniform(20.0, 250.0, n)     # hardness of the water
    age_days = rng.uniform(0.0, 540.0, n)       # days since blending
    strength = assam * 1.6 + ceylon * 0.9 + 0.25 * leaf_grade
    extraction = 1.0 - np.exp(-steep_min * (water_c - 70.0) / 60.0)
    bitterness = np.maximum(0.0, steep_min - 4.0) * (water_c - 85.0) / 8.0
    score = (
        78.0
        + 9.0 * np.tanh(strength * extraction - 0.6)
        - 1.4 * np.maximum(bitterness, 0.0)
        - 0.012 * (water_ppm - 60.0).clip(0.0)
        - 3.5 * (1.0 - np.exp(-age_days / 300.0))
        + 1.2 * np.sin(leaf_grade * 1.3) * ceylon
    )
    score = score + rng.normal(0.0, 0.9, n)     # panel disagreement
    x = np.stack([assam, ceylon, leaf_grade, water_c, steep_min,
                  water_ppm, age_days], axis=1)
    return x.astype(np.float32), score.astype(np.float32)


x_tr, y_tr = make_blends(N_TRAIN)
x_va, y_va = make_blends(N_VAL)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
t_tr, t_va = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd
X_tr, T_tr = mx.array(x_tr), mx.array(t_tr)
X_va = mx.array(x_va)

# reference numbers printed beside the models
mean_rmse = float(np.sqrt(np.mean((y_va - y_mu) ** 2)))
A = np.c_[x_tr, np.ones(len(x_tr))]
coef = np.linalg.solve(A.T @ A + 1e-3 * np.eye(A.shape[1]), A.T @ t_tr)
lin_pred = np.c_[x_va, np.ones(len(x_va))] @ coef * y_sd + y_mu
ridge_rmse = float(np.sqrt(np.mean((lin_pred - y_va) ** 2)))
print(f"blends: {N_TRAIN} train / {N_VAL} validation, 7 readings each")
print(f"reference: predict-the-mean {mean_rmse:.3f} pts | ridge {ridge_rmse:.3f} pts"
      f" | panel noise 0.900 pts")


# ------------------------------------------------------------------ model
class CupNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def mse(model, x, t):
    return nn.losses.mse_loss(model(x), t)


STEPS, BATCH, WARM = 1200, 64, 100


def warm_cos(peak, floor):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, WARM),
         optim.cosine_decay(peak, STEPS - WARM, floor)],
        [WARM],
    )


ARMS = {
    "sgd_nesterov": lambda: optim.SGD(warm_cos(0.05, 5e-4), momentum=0.9,
                                      nesterov=True),
    "rmsprop": lambda: optim.RMSprop(warm_cos(2e-3, 2e-5)),
    "adam": lambda: optim.Adam(warm_cos(3e-3, 3e-5)),
    "adamw": lambda: optim.AdamW(warm_cos(3e-3, 3e-5), weight_decay=0.02),
    "lion": lambda: optim.Lion(warm_cos(3e-4, 3e-6), weight_decay=0.01),
    "adafactor": lambda: optim.Adafactor(warm_cos(1e-2, 1e-4),
                                         relative_step=False,
                                         scale_parameter=False),
}

seed_model = CupNet()
mx.eval(seed_model.parameters())
start = tree_map(lambda p: mx.array(p), seed_model.parameters())
start_flat = dict(tree_flatten(start))

arms = {}
for name, make_opt in ARMS.items():
    m = CupNet()
    m.update(tree_map(lambda p: mx.array(p), start))
    opt = make_opt()
    arms[name] = {"model": m, "opt": opt,
                  "lg": nn.value_and_grad(m, mse), "win": [],
                  "hit": None, "best": float("inf")}
    mx.eval(m.parameters())


def val_rmse_pts(model):
    pred = model(X_va)
    return float(mx.sqrt(mx.mean((pred * y_sd + y_mu - mx.array(y_va)) ** 2)).item())


# every arm sees the same first batch: gradient leaves must all be live
xb, tb = X_tr[:BATCH], T_tr[:BATCH]
_, g0 = arms["adam"]["lg"](arms["adam"]["model"], xb, tb)
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max().item()) == 0.0]
print(f"gradient leaves: {len(tree_flatten(g0))}, all-zero: {dead or 'none'}")
print("untrained validation RMSE: "
      f"{val_rmse_pts(arms['adam']['model']):.3f} pts (identical for every arm)")

TARGET = 1.0  # points
order = rng.permutation(N_TRAIN)
cursor = 0
names = list(arms)
print("step  " + "  ".join(f"{n:>12s}" for n in names) + "   (val RMSE, pts)")
t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    if cursor + BATCH > N_TRAIN:
        order, cursor = rng.permutation(N_TRAIN), 0
    idx = mx.array(order[cursor:cursor + BATCH])
    cursor += BATCH
    xb, tb = X_tr[idx], T_tr[idx]
    outs = []
    for name in names:
        a = arms[name]
        loss, grads = a["lg"](a["model"], xb, tb)
        a["opt"].update(a["model"], grads)
        outs += [loss, a["model"].parameters(), a["opt"].state]
        a["win"].append(loss)
    mx.eval(*outs)
    if step % 100 == 0:
        cells = []
        for name in names:
            a = arms[name]
            r = val_rmse_pts(a["model"])
            a["best"] = min(a["best"], r)
            if a["hit"] is None and r < TARGET:
                a["hit"] = step
            a["win"] = []
            cells.append(f"{r:12.3f}")
        print(f"{step:4d}  " + "  ".join(cells))

elapsed = time.perf_counter() - t0
print()
print(f"leaderboard after {STEPS} lockstep steps ({elapsed:.1f}s); "
      f"target {TARGET} pts")
rows = []
for name in names:
    a = arms[name]
    final = val_rmse_pts(a["model"])
    flat = dict(tree_flatten(a["model"].parameters()))
    travel = math.sqrt(sum(float(mx.sum((flat[k] - start_flat[k]) ** 2).item())
                           for k in flat))
    rows.append((final, name, a["best"], a["hit"], travel))
rows.sort()
print(f"{'rank':>4s} {'optimizer':>13s} {'final':>7s} {'best':>7s} "
      f"{'to-target':>9s} {'|w-w0|':>7s}")
for i, (final, name, best, hit, travel) in enumerate(rows, 1):
    hit_s = f"{hit:9d}" if hit is not None else f"{'-':>9s}"
    print(f"{i:4d} {name:>13s} {final:7.3f} {best:7.3f} {hit_s} {travel:7.2f}")
print(f"{'':4s} {'mean':>13s} {mean_rmse:7.3f}")
print(f"{'':4s} {'ridge':>13s} {ridge_rmse:7.3f}")
