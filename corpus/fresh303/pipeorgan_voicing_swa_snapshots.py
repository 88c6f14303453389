"""Pipe-organ voicing bench: predict how many cents a flue pipe will sound off
its nominal pitch from bench measurements, then average late-epoch weights (SWA)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 8000, 2000
FEATURES = ["mouth_width", "cutup_ratio", "languid_height", "toe_bore",
            "wind_pressure", "scale_ratio", "wall_thickness", "tin_fraction",
            "temperature", "slot_trim"]


def make_pipes(n):
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    cents = (6.0 * np.tanh(x[:, 0] - 0.5 * x[:, 1])
             + 3.0 * x[:, 4] * x[:, 3]
             - 2.5 * np.sin(1.5 * x[:, 2])
             + 1.8 * x[:, 8]
             + 1.2 * x[:, 5] * x[:, 9]
             + 0.7 * x[:, 7] ** 2)
    cents = cents + rng.normal(scale=1.5, size=n)   # bench noise floor: 1.5 cents
    return x, cents.astype(np.float32)[:, None]


xtr, ytr = make_pipes(N_TRAIN)
xva, yva = make_pipes(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class Voicer(nn.Module):
    def __init__(self, width=192):
        super().__init__()
        self.inp = nn.Linear(len(FEATURES), width)
        self.mid = [nn.Linear(width, width) for _ in range(2)]
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        for layer in self.mid:
            h = h + nn.silu(layer(h))
        return self.out(h)


mx.random.seed(3)
model = Voicer()
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
opt = optim.Adam(learning_rate=1e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)
MICRO, ACCUM = 64, 4          # 4 micro-batches of 64 per optimizer step
EPOCHS, SWA_FROM = 10, 4


def rms_cents(m, X, Y, chunk=500):
    se = 0.0
    for i in range(0, X.shape[0], chunk):
        d = m(X[i:i + chunk]) - Y[i:i + chunk]
        se += mx.sum(d * d).item()
    return (se / X.shape[0]) ** 0.5


def mb(v):
    return v / 2 ** 20


base_rms = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
print(f"voicing bench: {N_TRAIN} train pipes, {N_VAL} held-out, {n_params} params "
      f"({mb(4 * n_params):.2f} MB of fp32 weights)")
print(f"reference: predict-the-mean rms {base_rms:.2f} cents, bench noise 1.50 cents")
print(f"untrained held-out rms {rms_cents(model, Xva, Yva):.2f} cents")

snapshots = []   # one evaluated weight copy per epoch from SWA_FROM on
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(N_TRAIN)
    n_steps = N_TRAIN // (MICRO * ACCUM)
    run_loss = 0.0
    for s in range(n_steps):
        acc = None
        for k in range(ACCUM):
            idx = mx.array(perm[(s * ACCUM + k) * MICRO:(s * ACCUM + k + 1) * MICRO])
            loss, g = grad_fn(model, Xtr[idx], Ytr[idx])
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            mx.eval(acc, loss)
            run_loss += loss.item()
        acc = tree_map(lambda a: a / ACCUM, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
    train_rms = (run_loss / (n_steps * ACCUM)) ** 0.5
    if epoch >= SWA_FROM:
        snap = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(snap)
        snapshots.append(snap)
    val = rms_cents(model, Xva, Yva)
    before_cache = mb(mx.get_cache_memory())
    mx.clear_cache()
    print(f"epoch {epoch:2d}  train_rms {train_rms:6.3f}c  heldout_rms {val:6.3f}c  "
          f"snapshots {len(snapshots):2d}  active {mb(mx.get_active_memory()):6.2f}MB  "
          f"cache {before_cache:6.2f}->{mb(mx.get_cache_memory()):.2f}MB  ({time.time() - t0:.1f}s)")

last_val = rms_cents(model, Xva, Yva)
swa = tree_map(lambda *ps: sum(ps) / len(ps), *snapshots)
model.update(swa)
mx.eval(model.parameters())
swa_val = rms_cents(model, Xva, Yva)
snapshots.clear()
mx.clear_cache()
print(f"last-epoch weights heldout_rms {last_val:.3f}c | SWA over {EPOCHS - SWA_FROM + 1} "
      f"epochs heldout_rms {swa_val:.3f}c | mean-baseline {base_rms:.2f}c")
print(f"after dropping snapshots: active {mb(mx.get_active_memory()):.2f}MB, "
      f"peak {mb(mx.get_peak_memory()):.2f}MB")
