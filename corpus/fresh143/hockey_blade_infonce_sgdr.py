# Ice-hockey stick sensors: self-supervised embedding of 48-sample blade-strain
# + shaft-accel windows (wrist / snap / slap / backhand shots) with an InfoNCE
# loss on two augmented views.  The factory calibration layer is frozen on
# purpose.  Compiled train step, SGD-Nesterov with 3 cosine warm restarts.
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(7)
T = 48
t = np.linspace(0, 1, T)


def shot(kind, n):
    shift = rs.uniform(-0.08, 0.08, (n, 1))
    amp = rs.uniform(0.7, 1.3, (n, 1))
    tt = t[None, :] - shift
    if kind == 0:   # wrist: smooth long load
        s = np.exp(-((tt - 0.5) / 0.14) ** 2)
        a = np.gradient(s, axis=1) * 8
    elif kind == 1:  # snap: short sharp load
        s = 1.2 * np.exp(-((tt - 0.55) / 0.05) ** 2)
        a = np.gradient(s, axis=1) * 10
    elif kind == 2:  # slap: wind-up dip then big spike
        s = -0.6 * np.exp(-((tt - 0.3) / 0.08) ** 2) + 1.8 * np.exp(-((tt - 0.62) / 0.035) ** 2)
        a = np.gradient(s, axis=1) * 6 + 0.3
    else:            # backhand: reversed-sign load
        s = -0.9 * np.exp(-((tt - 0.5) / 0.11) ** 2)
        a = -np.gradient(s, axis=1) * 8
    s = amp * s + rs.normal(0, 0.35, (n, T))
    a = amp * a + rs.normal(0, 0.45, (n, T))
    return np.concatenate([s, a], 1).astype(np.float32)


def dataset(per):
    xs = [shot(k, per) for k in range(4)]
    ys = np.repeat(np.arange(4), per)
    return np.concatenate(xs), ys


Xtr, _ = dataset(400)            # labels unused for training
Xpr, Ypr = dataset(60)           # labelled probe set for kNN


def augment(x):
    n = x.shape[0]
    roll = rs.integers(-3, 4, n)
    out = np.stack([np.concatenate([np.roll(r[:T], k), np.roll(r[T:], k)]) for r, k in zip(x, roll)])
    out = out * rs.uniform(0.8, 1.2, (n, 1)) + rs.normal(0, 0.06, out.shape)
    return out.astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(2 * T, 2 * T, bias=False)
        self.calib.weight = mx.eye(2 * T) + 0.02 * mx.random.normal((2 * T, 2 * T))
        self.body = nn.Sequential(nn.Linear(2 * T, 128), nn.GELU(), nn.Linear(128, 64))
        self.proj = nn.Sequential(nn.GELU(), nn.Linear(64, 32))

    def embed(self, x):
        return self.body(self.calib(x))

    def __call__(self, x):
        z = self.proj(self.embed(x))
        return z / mx.linalg.norm(z, axis=1, keepdims=True)


def info_nce(model, a, b, tau=0.2):
    za, zb = model(a), model(b)
    logits = za @ zb.T / tau
    lab = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, lab, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, lab, reduction="mean"))


mx.random.seed(3)
model = Encoder()
model.calib.freeze()
mx.eval(model.parameters())
W0 = mx.array(model.calib.weight)

CYCLE, CYCLES, BATCH = 120, 3, 64
sched = optim.join_schedules([optim.cosine_decay(0.08, CYCLE, 0.002) for _ in range(CYCLES)],
                             [CYCLE * (i + 1) for i in range(CYCLES - 1)])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
vg = nn.value_and_grad(model, info_nce)

g = vg(model, mx.array(augment(Xtr[:BATCH])), mx.array(augment(Xtr[:BATCH])))[1]
flat = tree_flatten(g)
print(f"grad check: {len(flat)} trainable tensors, "
      f"min |g| sum = {min(float(mx.abs(v).sum()) for _, v in flat):.3e}, "
      f"calib in grads: {any('calib' in k for k, _ in flat)}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b):
    loss, grads = vg(model, a, b)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm


def knn_acc(k=5):
    e = np.array(model.embed(mx.array(Xpr)))
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    nb = np.argsort(-sim, axis=1)[:, :k]
    votes = np.array([np.bincount(Ypr[r], minlength=4).argmax() for r in nb])
    return 100.0 * (votes == Ypr).mean()


def view_top1():
    za = np.array(model(mx.array(augment(Xpr))))
    zb = np.array(model(mx.array(augment(Xpr))))
    return 100.0 * ((za @ zb.T).argmax(1) == np.arange(len(Xpr))).mean()


print(f"probe before training: knn@5 {knn_acc():.1f}%  (chance 25.0%)  view-match top1 {view_top1():.1f}% (chance {100/len(Xpr):.2f}%)")
t0 = time.time()
gstep = 0
for c in range(1, CYCLES + 1):
    run = []
    for i in range(1, CYCLE + 1):
        idx = rs.choice(len(Xtr), BATCH, replace=False)
        xb = Xtr[idx]
        a, b = mx.array(augment(xb)), mx.array(augment(xb))
        loss, gn = step(a, b)
        mx.eval(state, loss, gn)
        run.append(loss.item())
        gstep += 1
        if i % 30 == 0:
            bar = "#" * (i * 20 // CYCLE)
            print(f"cycle {c}/{CYCLES} |{bar:<20}| {i}/{CYCLE} "
                  f"[loss {np.mean(run[-30:]):.3f}, lr {float(opt.learning_rate):.4f}, "
                  f"|g| {gn.item():.2f}, {gstep / (time.time() - t0):.0f} it/s]")
    drift = float(mx.abs(model.calib.weight - W0).max())
    print(f"audit after cycle {c}: calib max|W-W0| = {drift:.1e}  "
          f"knn@5 {knn_acc():.1f}% (chance 25.0%)  view-match top1 {view_top1():.1f}%  first10 {np.mean(run[:10]):.3f} -> last10 {np.mean(run[-10:]):.3f}")
print(f"done: {gstep} steps in {time.time() - t0:.1f}s, ln(batch)={np.log(BATCH):.3f}")
