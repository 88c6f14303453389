# Paraglider vario: predict the climb rate (m/s) over the next 10 s from the last
# 16 one-second samples of (vario, airspeed, bank angle, GPS ground speed, temp drift).
# Half-precision compute with float32 master weights and a dynamic loss scale.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten
import numpy as np

rng = np.random.default_rng(7)
T, F = 16, 5


def make_flights(n):
    core = rng.uniform(-1.0, 3.5, size=(n, 1))          # thermal strength
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    t = np.arange(T)[None, :]
    bank = 25 + 15 * np.sin(0.4 * t + phase) + rng.normal(0, 3, (n, T))
    air = 10 + 0.08 * bank + rng.normal(0, 0.6, (n, T))
    centring = np.cos(0.4 * t + phase)
    vario = core * (0.6 + 0.4 * centring) - 1.1 + 0.01 * bank + rng.normal(0, 0.35, (n, T))
    ground = air + rng.normal(0, 1.5, (n, 1)) + rng.normal(0, 0.4, (n, T))
    drift = np.cumsum(rng.normal(0, 0.05, (n, T)), axis=1)
    x = np.stack([vario, air, bank / 10.0, ground, drift], axis=-1)
    y = core[:, 0] * 0.85 - 1.1 + 0.3 * centring[:, -1] * core[:, 0] + rng.normal(0, 0.2, n)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_flights(6000)
xva, yva = make_flights(1200)
mu, sd = xtr.reshape(-1, F).mean(0), xtr.reshape(-1, F).std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))


class Vario(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(T * F, 96)
        self.mid = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x.reshape(x.shape[0], -1)))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)[:, 0]


master = Vario()
half = Vario()
mx.eval(master.parameters())


def refresh_half():
    half.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))


def scaled_loss(model, x, y, scale):
    pred = model(x.astype(mx.float16))
    loss = ((pred - y.astype(mx.float16)) ** 2).mean()
    return loss.astype(mx.float32) * scale, loss


grad_fn = nn.value_and_grad(half, lambda x, y, s: scaled_loss(half, x, y, s))

opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 1800, end=5e-5))
opt.init(master.parameters())

scale = 2.0 ** 15
GROW_EVERY, CAP = 80, 2.0 ** 24
clean_run = 0
skipped = 0
steps = 1800
bs = 96
t0 = time.time()


def val_rmse():
    p = master(xva)
    return mx.sqrt(((p - yva) ** 2).mean()).item()


print(f"flights train={xtr.shape[0]} val={xva.shape[0]} window={T}s  val std={float(np.std(np.array(yva))):.3f} m/s")
print(f"start val_rmse={val_rmse():.3f} m/s  loss_scale=2^{int(np.log2(scale))}")
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, xtr.shape[0], bs))
    refresh_half()
    (sl, raw), g = grad_fn(xtr[idx], ytr[idx], mx.array(scale))
    g32 = tree_map(lambda a: a.astype(mx.float32) / scale, g)
    gnorm = mx.sqrt(sum((v * v).sum() for _, v in tree_flatten(g32)))
    mx.eval(gnorm, raw, sl)
    gn = gnorm.item()
    if not np.isfinite(gn):
        skipped += 1
        print(f"step {step:5d}  scaled_loss={sl.item():.4g}  grad_norm={gn}  "
              f"loss_scale 2^{int(np.log2(scale))} -> 2^{int(np.log2(scale)) - 1}  (update skipped, {skipped} so far)")
        scale /= 2.0
        clean_run = 0
        continue
    opt.update(master, g32)
    mx.eval(master.parameters(), opt.state)
    clean_run += 1
    if clean_run % GROW_EVERY == 0 and scale < CAP:
        scale *= 2.0
    if step % 150 == 0 or step == 1:
        print(f"step {step:5d}  mse={raw.item():.4f}  grad_norm={gn:.3f}  lr={opt.learning_rate.item():.2e}  "
              f"loss_scale=2^{int(np.log2(scale))}  val_rmse={val_rmse():.3f} m/s")

final = val_rmse()
base = float(np.sqrt(np.mean((np.array(yva) - np.array(ytr).mean()) ** 2)))
print(f"done steps={steps} skipped={skipped} ({100.0 * skipped / steps:.1f}%)  val_rmse={final:.3f} m/s  "
      f"mean-guess rmse={base:.3f} m/s  time={time.time() - t0:.1f}s")
