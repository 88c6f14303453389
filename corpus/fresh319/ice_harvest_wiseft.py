import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

# Lake ice harvest: grade of a cut block (0 clear, 1 cloudy, 2 rotten) from 7 field readings.
# Stage 1 trains on last winter's lake, stage 2 fine-tunes on this winter's lake (shifted
# weather and a changed snow effect), stage 3 interpolates weights between the two models.
rng = np.random.default_rng(11)

def lake(n, shift):
    x = rng.normal(size=(n, 7)).astype(np.float32)  # thickness, air temp, snow, freeze days, wind, depth, sun
    x[:, 1] += shift * 0.8
    x[:, 2] += shift * 0.6
    score = (1.4 * x[:, 1] - 1.1 * x[:, 0] + (0.9 + 0.9 * shift) * x[:, 2]
             + 0.5 * x[:, 6] - 0.4 * x[:, 3] + 0.3 * x[:, 4] * x[:, 5])
    score += rng.normal(scale=0.6, size=n)
    y = np.digitize(score, [-0.9, 0.9]).astype(np.int32)
    return mx.array(x), mx.array(y)

xa, ya = lake(6000, 0.0)
xa_te, ya_te = lake(2000, 0.0)
xb, yb = lake(700, 1.0)
xb_te, yb_te = lake(2000, 1.0)

class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(7, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 3))
    def __call__(self, x):
        return self.net(x)

def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.05, reduction="mean")

def acc(m, x, y):
    return mx.mean(mx.argmax(m(x), axis=1) == y).item()

def majority(y_tr, y):
    return mx.mean(y == int(np.bincount(np.array(y_tr)).argmax())).item()

def train(m, x, y, steps, peak, warm, tag, log_every):
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, steps - warm, peak * 0.02)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    lg = nn.value_and_grad(m, ce)
    n = x.shape[0]
    for s in range(steps):
        idx = mx.array(rng.integers(0, n, size=128))
        loss, g = lg(m, x[idx], y[idx])
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        if s % log_every == 0 or s == steps - 1:
            print(f"[{tag}] step {s:4d} lr {opt.learning_rate.item():.5f} loss {loss.item():.4f}")

t0 = time.time()
mx.random.seed(3)
model = Grader(); mx.eval(model.parameters())
print(f"majority guess: lake A {majority(ya, ya_te):.3f}  lake B {majority(ya, yb_te):.3f}")
train(model, xa, ya, 900, 3e-3, 60, "winter-1", 150)
base = tree_map(lambda p: mx.array(p), model.parameters())
print(f"stage 1 done: lake A acc {acc(model, xa_te, ya_te):.3f}  lake B acc {acc(model, xb_te, yb_te):.3f}")
train(model, xb, yb, 500, 1e-3, 50, "winter-2", 250)
tuned = tree_map(lambda p: mx.array(p), model.parameters())
print(f"stage 2 done: lake A acc {acc(model, xa_te, ya_te):.3f}  lake B acc {acc(model, xb_te, yb_te):.3f}")

probe = Grader()
print(" alpha  lakeA   lakeB   mean")
best = (-1.0, None)
for a in [k / 10 for k in range(11)]:
    probe.update(tree_map(lambda p0, p1: (1 - a) * p0 + a * p1, base, tuned))
    ra, rb = acc(probe, xa_te, ya_te), acc(probe, xb_te, yb_te)
    print(f" {a:4.1f}  {ra:.3f}  {rb:.3f}  {(ra + rb) / 2:.3f}")
    if (ra + rb) / 2 > best[0]:
        best = ((ra + rb) / 2, a)
print(f"kept alpha {best[1]:.1f} (mean acc {best[0]:.3f}); "
      f"{sum(v.size for _, v in tree_flatten(probe.parameters()))} params; {time.time() - t0:.1f}s")
