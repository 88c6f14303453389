"""Grain elevator: minutes a truck needs at the unloading pit.

Synthetic scale-house tickets with raw features on very different scales
(net kg, moisture %, dockage %, queue length, hour, outside temp, axle count)
plus the farm of origin. Farms are not enumerated: the farm code is hashed
(crc32 mod 512) into an nn.Embedding table.

Numeric features are standardised with a streaming (Welford) pass over the
ticket file in chunks. Training runs in two stages:
  stage "numeric": farm table held at zero and frozen, only the MLP learns;
  stage "farms"  : the farm table is unfrozen and learns per-farm offsets.
Nothing is printed while a stage runs; the history is printed at the end.
"""
import time
import zlib

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 5
N_FARMS = 240
N_TRAIN, N_VALID = 16000, 3000
BUCKETS = 512
BATCH = 64
STAGES = [("numeric", 6, 2e-3), ("farms", 8, 1e-3)]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

farm_codes = [f"FARM-{rng.integers(10000, 99999)}" for _ in range(N_FARMS)]
farm_bias = rng.normal(0.0, 0.18, N_FARMS)          # per-farm log-minute offset


def tickets(n):
    f = rng.integers(0, N_FARMS, n)
    net_kg = rng.uniform(8000, 36000, n)
    moist = rng.normal(14.5, 1.8, n)
    dock = np.abs(rng.normal(1.2, 0.8, n))
    queue = rng.poisson(3.0, n).astype(np.float64)
    hour = rng.uniform(5, 22, n)
    temp = rng.normal(12, 9, n)
    axles = rng.choice([2, 3, 5], n, p=[0.3, 0.3, 0.4]).astype(np.float64)
    log_min = (np.log(6.0) + 0.55 * np.log(net_kg / 20000) + 0.04 * (moist - 14.5)
               + 0.06 * dock + 0.05 * queue + 0.08 * np.sin((hour - 6) / 16 * np.pi)
               - 0.004 * (temp - 12) - 0.03 * (axles - 3) + farm_bias[f])
    y = log_min + rng.normal(0, 0.12, n)
    x = np.stack([net_kg, moist, dock, queue, hour, temp, axles], 1)
    codes = [farm_codes[i] for i in f]
    return x, codes, y


x_tr, codes_tr, y_tr = tickets(N_TRAIN)
x_va, codes_va, y_va = tickets(N_VALID)


def bucket(codes):
    return np.array([zlib.crc32(c.encode()) % BUCKETS for c in codes], np.int32)


b_tr, b_va = bucket(codes_tr), bucket(codes_va)


class Welford:
    def __init__(self, d):
        self.n, self.mean, self.m2 = 0, np.zeros(d), np.zeros(d)

    def update(self, chunk):
        for row in chunk:
            self.n += 1
            delta = row - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (row - self.mean)

    @property
    def std(self):
        return np.sqrt(self.m2 / (self.n - 1))


scaler = Welford(x_tr.shape[1])
for s in range(0, N_TRAIN, 2000):
    scaler.update(x_tr[s:s + 2000])
y_mu, y_sd = y_tr.mean(), y_tr.std()

X_tr = mx.array(((x_tr - scaler.mean) / scaler.std).astype(np.float32))
X_va = mx.array(((x_va - scaler.mean) / scaler.std).astype(np.float32))
Y_tr = mx.array(((y_tr - y_mu) / y_sd).astype(np.float32))
B_tr, B_va = mx.array(b_tr), mx.array(b_va)

used = len(set(b_tr.tolist()))
print(f"tickets: {N_TRAIN} train / {N_VALID} valid, {N_FARMS} farm codes hashed into "
      f"{BUCKETS} buckets ({used} used)")
print("raw scale of features (std): " + ", ".join(f"{v:.3g}" for v in scaler.std))


class UnloadNet(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.farm = nn.Embedding(BUCKETS, 6)
        self.l1 = nn.Linear(d + 6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x, b):
        h = mx.concatenate([x, self.farm(b)], axis=1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = UnloadNet(X_tr.shape[1])
model.farm.weight = mx.zeros_like(model.farm.weight)
mx.eval(model.parameters())


def loss_fn(m, x, b, y):
    return nn.losses.huber_loss(m(x, b), y, delta=1.0, reduction="mean")


def valid_report():
    pred_log = np.array(model(X_va, B_va)) * y_sd + y_mu
    err = np.exp(pred_log) - np.exp(y_va)
    mae = np.abs(err).mean()
    within = (np.abs(err) < 1.0).mean()
    return mae, within


mean_mae = np.abs(np.exp(y_mu) - np.exp(y_va)).mean()
noise_mae = np.abs(np.exp(y_va) * (np.exp(rng.normal(0, 0.12, N_VALID)) - 1)).mean()
print(f"reference: predict-the-mean MAE {mean_mae:.2f} min; ticket-noise MAE about {noise_mae:.2f} min")

history = []
t0 = time.time()
for stage, epochs, lr in STAGES:
    if stage == "numeric":
        model.farm.freeze()
    else:
        model.farm.unfreeze()
    opt = optim.RMSprop(learning_rate=lr, alpha=0.95)
    step = nn.value_and_grad(model, loss_fn)
    names = [k for k, _ in tree_flatten(model.trainable_parameters())]
    farm_before = np.array(model.farm.weight)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot, nb = 0.0, 0
        for s in range(0, N_TRAIN, BATCH):
            idx = perm[s:s + BATCH]
            loss, g = step(model, X_tr[idx], B_tr[idx], Y_tr[idx])
            if ep == 1 and s == 0:
                zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        mae, within = valid_report()
        history.append((stage, ep, lr, tot / nb, mae, within, time.time() - t0))
    drift = float(np.abs(np.array(model.farm.weight) - farm_before).max())
    print(f"stage {stage}: {len(names)} trainable leaves, first-batch zero-grad leaves "
          f"{zero if zero else 'none'}, farm table max change {drift:.3g}")

print()
print("| stage   | ep | lr      | train_huber(z) | valid_MAE_min | within_1min | secs |")
print("|---------|----|---------|----------------|---------------|-------------|------|")
for stage, ep, lr, tr, mae, within, secs in history:
    print(f"| {stage:<7} | {ep:2d} | {lr:.1e} | {tr:14.4f} | {mae:13.2f} | {100 * within:10.1f}% | {secs:4.1f} |")
print()
print(f"final valid MAE {history[-1][4]:.2f} min (mean guess {mean_mae:.2f}, noise about {noise_mae:.2f})")
