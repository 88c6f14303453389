# All-sky camera network: flag bright-meteor (fireball) tracks among aircraft,
# satellite glints and lightning. Fireballs are ~0.4% of tracks.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)
FEATS = ["peak_mag", "duration_s", "ang_speed", "deceleration", "blink_hz",
         "colour_index", "cams_seen", "alt_start_km", "straightness"]


def make(n):
    kind = rng.choice(4, n, p=[0.55, 0.30, 0.146, 0.004])   # plane, satellite, lightning, fireball
    x = np.zeros((n, 9), np.float32)
    x[:, 0] = np.select([kind == 0, kind == 1, kind == 2], [-1.0, 1.5, -4.0], -3.0) + rng.normal(0, 1.6, n)
    x[:, 1] = np.log(np.select([kind == 0, kind == 1, kind == 2], [60.0, 9.0, 0.3], 2.5)) + rng.normal(0, 0.6, n)
    x[:, 2] = np.select([kind == 0, kind == 1, kind == 2], [0.3, 1.0, 0.0], 3.0) + rng.normal(0, 2.5, n)
    x[:, 3] = np.where(kind == 3, 0.8, 0.0) + rng.normal(0, 1.0, n)
    x[:, 4] = np.where(kind == 0, 1.0, 0.0) + rng.normal(0, 0.5, n)
    x[:, 5] = rng.normal(0, 1, n) + np.where(kind == 3, 0.6, 0.0)
    x[:, 6] = rng.poisson(np.where(kind == 3, 3.0, 1.6), n)
    x[:, 7] = np.where(kind == 3, 1.0, 0.0) + rng.normal(0, 1.0, n)
    x[:, 8] = np.where(kind == 2, -1.5, 0.5) + rng.normal(0, 0.7, n)
    return x, (kind == 3).astype(np.float32)


xtr, ytr = make(60000)
xva, yva = make(30000)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
prev = ytr.mean()
Xtr, Ytr, Xva = mx.array(xtr), mx.array(ytr), mx.array(xva)


def average_precision(s, y):
    o = np.argsort(-s)
    y = y[o]
    tp = np.cumsum(y)
    return float((tp / np.arange(1, len(y) + 1) * y).sum() / max(y.sum(), 1))


class Watch(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)
        # start the output at the base rate instead of 50/50
        self.out.bias = mx.array([float(np.log(prev / (1 - prev)))])

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))[:, 0]


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, reduction="mean")


model = Watch()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
B, STEPS, WARM = 512, 1200, 150
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, STEPS - WARM, 5e-5)], [WARM])
opt = optim.Adam(learning_rate=sched)

prior_bce = float(-(prev * np.log(prev) + (1 - prev) * np.log(1 - prev)))
_, g = vg(model, Xtr[:B], Ytr[:B])
print(f'<run tracks="{len(ytr)}" fireballs="{int(ytr.sum())}" prevalence="{prev:.2e}" '
      f'prior_bce="{prior_bce:.3e}" grad_leaves="{len(tree_flatten(g))}"/>')


def evaluate(step, train_bce, t0):
    s = np.array(model(Xva))
    yv = yva
    p = 1 / (1 + np.exp(-s))
    bce = float(np.mean(-(yv * np.log(p + 1e-12) + (1 - yv) * np.log(1 - p + 1e-12))))
    ap = average_precision(s, yv)
    alerts = p > 0.5
    tp = int((alerts & (yv == 1)).sum()); fp = int((alerts & (yv == 0)).sum())
    lr = float(sched(mx.array(step)))
    print(f'<eval step="{step}" lr="{lr:.2e}" train_bce="{train_bce:.3e}" val_bce="{bce:.3e}" '
          f'val_ap="{ap:.3f}" chance_ap="{yv.mean():.3f}" alerts_tp="{tp}" alerts_fp="{fp}" '
          f'missed="{int(yv.sum()) - tp}" secs="{time.time() - t0:.1f}"/>')


t0 = time.time()
evaluate(0, float(loss_fn(model, Xtr, Ytr)), t0)
cursor, perm, win = 0, rng.permutation(len(ytr)), []
for step in range(1, STEPS + 1):
    if cursor + B > len(perm):
        perm, cursor = rng.permutation(len(ytr)), 0
    idx = mx.array(perm[cursor:cursor + B]); cursor += B
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(loss, model.parameters(), opt.state)
    win.append(float(loss))
    if step % 300 == 0:
        evaluate(step, float(np.mean(win)), t0)
        win = []
print(f'<done steps="{STEPS}" secs="{time.time() - t0:.1f}"/>')
