"""Cement kiln soft sensor: free lime (%) of clinker from kiln readings, learned online.

Raw meal comes from successive quarry faces; each face shifts the chemistry and the
kiln response.  Every incoming batch is scored BEFORE the model trains on it
(prequential evaluation).  A snapshot taken at the end of face 1 is kept as a
reference and never trained again.
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(394)
mx.random.seed(394)

FEATURES = ["lsf", "silica_mod", "alumina_mod", "bz_temp", "feed_tph", "coal_residue"]
TICKS, BATCH, FACE_LEN = 2400, 16, 600

# per-face chemistry means and response coefficients (made-up law)
FACES = [
    dict(mean=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], w=[0.9, 0.4, -0.3, -0.8, 0.3, 0.2]),
    dict(mean=[0.8, -0.5, 0.3, 0.0, 0.4, 0.0], w=[1.2, 0.2, -0.3, -0.8, 0.3, 0.5]),
    dict(mean=[-0.4, 0.6, -0.6, 0.3, -0.2, 0.5], w=[0.7, 0.6, -0.1, -1.1, 0.5, 0.2]),
    dict(mean=[0.3, 0.2, 0.5, -0.5, 0.6, -0.3], w=[1.0, 0.3, -0.5, -0.6, 0.1, 0.4]),
]


def draw(face, n):
    f = FACES[face]
    x = rng.normal(size=(n, 6)) + np.array(f["mean"])
    z = x @ np.array(f["w"]) + 0.35 * np.tanh(x[:, 0] * x[:, 3])
    y = 1.4 + 0.45 * np.log1p(np.exp(z)) + rng.normal(scale=0.08, size=n)
    return x.astype(np.float32), y.astype(np.float32)


# commissioning data sets the scaling once (face 1 only)
x0, y0 = draw(0, 400)
mu, sd = x0.mean(0), x0.std(0)
y_mu, y_sd = float(y0.mean()), float(y0.std())


class SoftSensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mae_pct(model, x, y):
    pred = model(x) * y_sd + y_mu
    return mx.mean(mx.abs(pred - y))


def loss_fn(model, x, yz):
    return nn.losses.huber_loss(model(x), yz, delta=1.0, reduction="mean")


model = SoftSensor()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=2e-4, weight_decay=1e-3)
step = nn.value_and_grad(model, loss_fn)

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["# features"] + FEATURES)
out.writerow(["# commissioning mean free lime %", f"{y_mu:.3f}", "sd", f"{y_sd:.3f}"])
out.writerow(["tick", "face", "preq_mae_pct", "face1_snapshot_mae_pct", "constant_mae_pct", "train_huber_z", "secs"])

snapshot = None
win_m, win_s, win_c, win_l = [], [], [], []
t0 = time.perf_counter()
checked = False
for tick in range(1, TICKS + 1):
    face = (tick - 1) // FACE_LEN
    if tick > 1 and (tick - 1) % FACE_LEN == 0:
        out.writerow([f"# tick {tick}: feed switched to quarry face {face + 1}"])
    xb, yb = draw(face, BATCH)
    xs = mx.array((xb - mu) / sd)
    y = mx.array(yb)
    # score first, then learn
    m = mae_pct(model, xs, y)
    s = mae_pct(snapshot, xs, y) if snapshot is not None else None
    c = mx.mean(mx.abs(y - y_mu))
    loss, grads = step(model, xs, (y - y_mu) / y_sd)
    if not checked:
        flat = tree_flatten(grads)
        nz = sum(int(mx.any(g != 0).item()) for _, g in flat)
        out.writerow(["# first-step gradient leaves", len(flat), "nonzero", nz])
        checked = True
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, m, c)
    win_m.append(m.item()); win_c.append(c.item()); win_l.append(loss.item())
    if s is not None:
        win_s.append(s.item())
    if tick == FACE_LEN:
        snapshot = SoftSensor()
        snapshot.update(tree_map(lambda a: mx.array(a), model.parameters()))
        snapshot.freeze()
        mx.eval(snapshot.parameters())
        ref = tree_map(lambda a: mx.array(a), snapshot.parameters())
        out.writerow([f"# tick {tick}: face-1 snapshot stored as reference (not trained further)"])
    if tick % 100 == 0:
        out.writerow([tick, face + 1, f"{np.mean(win_m):.4f}",
                      f"{np.mean(win_s):.4f}" if win_s else "", f"{np.mean(win_c):.4f}",
                      f"{np.mean(win_l):.4f}", f"{time.perf_counter() - t0:.1f}"])
        win_m, win_s, win_c, win_l = [], [], [], []

drift = max(mx.max(mx.abs(a - b)).item() for (_, a), (_, b) in
            zip(tree_flatten(snapshot.parameters()), tree_flatten(ref)))
out.writerow(["# snapshot max weight change", f"{drift:.1f}"])
out.writerow(["# done", TICKS, "ticks", f"{time.perf_counter() - t0:.1f}", "s"])
