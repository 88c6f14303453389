"""Run one row of a hyper-parameter sweep sheet: MLP regression, AdamW."""
import csv
import io
import json
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# exported from the team's sweep spreadsheet; blank cells mean "use the default"
SWEEP_CSV = """run,learning_rate,weight_decay,adam_epsilon,hidden,epochs
r01,1e-3,0.01,1e-8,64,30
r02,3e-3,0.0,,64,30
r03,1e-3,0.1,1e-6,128,30
"""
RUN = sys.argv[1] if len(sys.argv) > 1 else "r02"


def cell(v):
    # blank -> NaN, like a dataframe export would give us
    return float(v) if v.strip() else float("nan")


rows = {r["run"]: r for r in csv.DictReader(io.StringIO(SWEEP_CSV))}
row = rows[RUN]
cfg = {k: cell(v) for k, v in row.items() if k != "run"}

lr = cfg["learning_rate"] or 1e-3
wd = cfg["weight_decay"] or 0.01
eps = cfg["adam_epsilon"] or 1e-8
hidden = int(cfg["hidden"])
epochs = int(cfg["epochs"])

mx.random.seed(11)
N = 2048
X = mx.random.uniform(-2, 2, (N, 6))
Y = mx.sin(X[:, :1] * 1.5) + 0.5 * X[:, 1:2] * X[:, 2:3] - 0.3 * X[:, 3:4] ** 2 + 0.05 * mx.random.normal((N, 1))
Xtr, Ytr, Xva, Yva = X[:1792], Y[:1792], X[1792:], Y[1792:]

model = nn.Sequential(nn.Linear(6, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=lr, weight_decay=wd, eps=eps)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step_fn = nn.value_and_grad(model, loss_fn)
print(json.dumps({"run": RUN, "lr": lr, "weight_decay": wd, "eps": str(eps), "hidden": hidden}), flush=True)
t0 = time.time()
BS = 64
for ep in range(epochs):
    perm = mx.random.permutation(Xtr.shape[0])
    s, n = 0.0, 0
    for i in range(0, Xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss, g = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        s += loss.item(); n += 1
    val = loss_fn(model, Xva, Yva).item()
    print(json.dumps({"epoch": ep, "train_mse": round(s / n, 5), "val_mse": round(val, 5),
                      "sec": round(time.time() - t0, 2)}), flush=True)
