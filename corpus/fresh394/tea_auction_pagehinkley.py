"""Tea auction lot grading (BOP / FBOP / Dust) from 8 taster and lab readings, streamed
lot by lot over three picking seasons.  The tasting panel changes between seasons, so the
grade boundaries move.  A Page-Hinkley detector watches the prequential loss; on an alarm
the optimiser state is restarted.  A reservoir of past lots is replayed with every batch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3942)
mx.random.seed(3942)
GRADES = ["BOP", "FBOP", "Dust"]
TICKS, BATCH, REPLAY, RES_CAP = 1800, 24, 24, 600
SEASON_START = [0, 600, 1200]

base = rng.normal(size=(8, 3)) * 1.3
panel = [base,
         base @ np.array([[0.2, 1.0, -0.2], [1.0, 0.1, 0.0], [0.0, -0.3, 1.0]]),   # panel 2
         np.roll(base, 1, axis=1) * 1.1]                                         # panel 3
bias = [np.array([0.4, 0.0, -0.4]), np.array([0.0, 0.3, -0.2]), np.array([-0.2, 0.2, 0.1])]


def lots(season, n):
    x = rng.normal(size=(n, 8)).astype(np.float32)
    logits = x @ panel[season] + bias[season]
    logits += rng.gumbel(size=logits.shape) * 0.6
    return x, logits.argmax(1).astype(np.int32)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class PageHinkley:
    def __init__(self, delta=0.05, lam=6.0, alpha=0.99):
        self.delta, self.lam, self.alpha = delta, lam, alpha
        self.reset()

    def reset(self):
        self.mean, self.n, self.cum, self.low = 0.0, 0, 0.0, 0.0

    def add(self, v):
        self.n += 1
        self.mean = self.mean + (v - self.mean) / self.n if self.n < 50 else self.alpha * self.mean + (1 - self.alpha) * v
        self.cum += v - self.mean - self.delta
        self.low = min(self.low, self.cum)
        return self.cum - self.low > self.lam


model = Grader()
mx.eval(model.parameters())
make_opt = lambda: optim.RMSprop(learning_rate=1e-3, alpha=0.95)
opt = make_opt()
vg = nn.value_and_grad(model, ce)
ph = PageHinkley()

res_x = np.zeros((RES_CAP, 8), np.float32)
res_y = np.zeros(RES_CAP, np.int32)
seen = 0

print("| tick | season | preq CE (bits) | preq acc % | majority acc % | restarts | reservoir | s |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
t0 = time.perf_counter()
restarts, win = 0, []
for tick in range(TICKS):
    season = sum(tick >= s for s in SEASON_START) - 1
    if tick in SEASON_START[1:]:
        print(f"| {tick} | {season + 1} | new tasting panel | | | | | |")
    xb, yb = lots(season, BATCH)
    x, y = mx.array(xb), mx.array(yb)
    logits = model(x)
    preq = nn.losses.cross_entropy(logits, y, reduction="mean") / math.log(2)
    acc = mx.mean(logits.argmax(1) == y) * 100
    mx.eval(preq, acc)
    maj = 100.0 * np.bincount(yb, minlength=3).max() / BATCH
    win.append((preq.item(), acc.item(), maj))
    if ph.add(preq.item()) and tick > 50:
        restarts += 1
        opt = make_opt()
        ph.reset()
        print(f"| {tick} | {season + 1} | Page-Hinkley alarm, optimiser state restarted | | | {restarts} | | |")
    # mix replay from the reservoir with the fresh lots
    if seen > REPLAY:
        idx = rng.integers(0, min(seen, RES_CAP), REPLAY)
        xt = mx.array(np.concatenate([xb, res_x[idx]]))
        yt = mx.array(np.concatenate([yb, res_y[idx]]))
    else:
        xt, yt = x, y
    loss, grads = vg(model, xt, yt)
    if tick == 0:
        g = tree_flatten(grads)
        print(f"| 0 | 1 | gradient leaves {len(g)}, nonzero {sum(int(mx.any(a != 0).item()) for _, a in g)} | | | | | |")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    for i in range(BATCH):  # reservoir sampling
        if seen < RES_CAP:
            res_x[seen], res_y[seen] = xb[i], yb[i]
        else:
            j = rng.integers(0, seen + 1)
            if j < RES_CAP:
                res_x[j], res_y[j] = xb[i], yb[i]
        seen += 1
    if (tick + 1) % 100 == 0:
        a = np.array(win)
        print(f"| {tick + 1} | {season + 1} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.1f} | {a[:, 2].mean():.1f} "
              f"| {restarts} | {min(seen, RES_CAP)} | {time.perf_counter() - t0:.1f} |")
        win = []
print(f"\nlots seen {seen}, restarts {restarts}, chance CE log2(3) = {math.log2(3):.3f} bits, "
      f"{time.perf_counter() - t0:.1f} s")
