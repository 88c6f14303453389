"""Learn a hiking pace model (walking speed vs. grade, surface and fatigue) from
synthetic GPS track segments.  The training log is written as a GPX document:
every epoch becomes a <trkpt> whose <ele> is the validation RMSE in km/h."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
SURFACES = ["asphalt", "trail", "scree"]
SURF_FACTOR = np.array([1.08, 0.92, 0.62], dtype=np.float32)


def make_segments(n):
    grade = rng.uniform(-0.45, 0.45, n).astype(np.float32)          # rise / run
    surface = rng.integers(0, 3, n)
    km_done = rng.uniform(0.0, 25.0, n).astype(np.float32)          # distance walked so far
    elev = rng.uniform(200.0, 3200.0, n).astype(np.float32)        # metres above sea level
    tobler = 6.0 * np.exp(-3.5 * np.abs(grade + 0.05))
    fatigue = 1.0 - 0.012 * km_done
    altitude = 1.0 - 0.04 * np.clip(elev - 1500.0, 0, None) / 1000.0
    speed = tobler * SURF_FACTOR[surface] * fatigue * altitude
    speed = speed * np.exp(rng.normal(0.0, 0.08, n))               # walker-to-walker noise
    feats = np.stack([grade * 4.0, np.abs(grade) * 4.0, km_done / 25.0,
                      (elev - 1700.0) / 900.0], axis=1).astype(np.float32)
    return feats, surface.astype(np.int32), np.log(speed).astype(np.float32)


class PaceNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.surface = nn.Embedding(3, 4)
        self.l1 = nn.Linear(4 + 4, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x, s):
        h = mx.concatenate([x, self.surface(s)], axis=-1)
        h = nn.tanh(self.l1(h))
        h = nn.tanh(self.l2(h))
        return self.out(h).squeeze(-1)              # predicted log km/h


def loss_fn(model, x, s, y):
    return nn.losses.mse_loss(model(x, s), y)


Xtr, Str, Ytr = make_segments(6000)
Xva, Sva, Yva = make_segments(1500)
Xtr, Str, Ytr = mx.array(Xtr), mx.array(Str), mx.array(Ytr)
Xva, Sva, Yva = mx.array(Xva), mx.array(Sva), mx.array(Yva)

mx.random.seed(3)
model = PaceNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
grad_fn = nn.value_and_grad(model, loss_fn)
CLIP = 1.0


def val_rmse_kmh():
    pred = mx.exp(model(Xva, Sva))
    return mx.sqrt(mx.mean((pred - mx.exp(Yva)) ** 2)).item()


# first-step gradient audit
_, g0 = grad_fn(model, Xtr[:256], Str[:256], Ytr[:256])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.all(v == 0).item()]

print('<?xml version="1.0" encoding="UTF-8"?>')
print('<gpx version="1.1" creator="pace-trainer" xmlns="http://www.topografix.com/GPX/1/1">')
print(f'  <metadata><desc>segments train={Xtr.shape[0]} val={Xva.shape[0]}; '
      f'gradcheck leaves={len(leaves)} zero={zero}; '
      f'baseline_rmse={float(mx.sqrt(mx.mean((mx.exp(Yva) - mx.exp(Ytr).mean())**2)).item()):.3f}</desc></metadata>')
print('  <trk><name>training</name><trkseg>')

EPOCHS, BATCH = 14, 64
t0 = time.time()
n = Xtr.shape[0]
for epoch in range(1, EPOCHS + 1):
    # hand-written warm-up for the first epoch, then constant
    perm = mx.array(rng.permutation(n))
    tot, cnt = 0.0, 0
    for i in range(0, n - BATCH + 1, BATCH):
        step = (epoch - 1) * (n // BATCH) + i // BATCH
        opt.learning_rate = 2e-3 * min(1.0, (step + 1) / 90)
        idx = perm[i:i + BATCH]
        loss, grads = grad_fn(model, Xtr[idx], Str[idx], Ytr[idx])
        grads = tree_map(lambda g: mx.clip(g, -CLIP, CLIP), grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        cnt += 1
    rmse = val_rmse_kmh()
    lat = 46.0 + 0.001 * epoch
    lon = 7.0 + 0.001 * epoch
    print(f'    <trkpt lat="{lat:.4f}" lon="{lon:.4f}"><ele>{rmse:.4f}</ele>'
          f'<time>2024-06-01T08:{epoch:02d}:00Z</time>'
          f'<extensions><epoch>{epoch}</epoch><train_mse_log>{tot / cnt:.5f}</train_mse_log>'
          f'<lr>{opt.learning_rate.item():.2e}</lr><secs>{time.time() - t0:.1f}</secs></extensions></trkpt>')

print('  </trkseg></trk>')
# learned speed curve on fresh trail at 5 km, 1000 m vs. the generating rule
print('  <rte><name>learned pace curve (trail, 5 km, 1000 m)</name>')
for gr in [-0.30, -0.15, -0.05, 0.0, 0.10, 0.25]:
    x = mx.array([[gr * 4.0, abs(gr) * 4.0, 5.0 / 25.0, (1000.0 - 1700.0) / 900.0]], dtype=mx.float32)
    kmh = math.exp(model(x, mx.array([1])).item())
    truth = 6.0 * math.exp(-3.5 * abs(gr + 0.05)) * 0.92 * (1 - 0.012 * 5.0)
    print(f'    <rtept lat="{46 + gr:.3f}" lon="7.000"><name>grade {gr:+.2f}</name>'
          f'<desc>model {kmh:.2f} km/h, rule {truth:.2f} km/h</desc></rtept>')
print('  </rte>')
print('</gpx>')
