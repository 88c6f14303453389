# Winter ice-road planning: end-of-window lake-ice thickness (cm) from a 28-day
# weather series (air temperature, snowfall). 1-D conv net; the first conv is a
# fixed smoothing filter bank, frozen on purpose. LR: linear warmup from exactly
# 0, then cosine warm restarts (150, 300 steps). Logs JSON lines.
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2026)
N, T = 2400, 28
h0 = rng.uniform(5, 30, N)                                   # cm at window start
base = rng.uniform(-22, -2, N)[:, None]
air = base + 6 * np.sin(np.linspace(0, 3, T))[None, :] * rng.uniform(-1, 1, (N, 1)) + rng.normal(0, 4, (N, T))
snow = np.where(rng.random((N, T)) < 0.15, rng.exponential(4, (N, T)), 0.0)
h = h0.copy()
depth = np.zeros(N)
for t in range(T):
    depth = 0.85 * depth + snow[:, t]
    fdd = np.maximum(-air[:, t], 0.0)
    h = np.sqrt(h ** 2 + 7.0 * fdd / (1.0 + 0.12 * depth))      # Stefan-like growth, snow insulates
    h = h - 0.3 * np.maximum(air[:, t], 0.0)                     # thaw days
    h = np.maximum(h, 1.0)
target = h + rng.normal(0, 1.5, N)
feats = np.stack([air / 10.0, snow / 5.0], -1).astype(np.float32)           # (N, T, 2)
start = (h0[:, None] / 20.0 * np.ones((1, T)))[..., None].astype(np.float32)
X = np.concatenate([feats, start], -1)                                        # (N, T, 3)
y = target.astype(np.float32)
ntr = 2000
Xtr, ytr, Xva, yva = mx.array(X[:ntr]), mx.array(y[:ntr]), mx.array(X[ntr:]), mx.array(y[ntr:])
# reference: "ice only grows by the average winter rate" rule of thumb
rate = float(np.mean(y[:ntr] - h0[:ntr]))
ref_mae = float(np.mean(np.abs(h0[ntr:] + rate - y[ntr:])))


class IceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(3, 12, kernel_size=5, padding=2)
        self.body = nn.Conv1d(12, 32, kernel_size=3, padding=1)
        self.mix = nn.Linear(64, 32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        z = nn.gelu(self.body(self.stem(x)))
        z = mx.concatenate([z.mean(axis=1), z[:, -1, :]], axis=-1)
        return self.head(nn.gelu(self.mix(z))).squeeze(-1) * 20.0 + 40.0


model = IceNet()
model.stem.freeze()
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "setup", "params_trainable": n_train, "params_frozen": n_all - n_train,
                  "train": ntr, "valid": N - ntr, "ref_mae_cm": round(ref_mae, 3)}))

opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
WARM, CYCLES, PEAK = 60, [150, 300], 4e-3


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM
    s = step - WARM
    for c in CYCLES:
        if s < c:
            return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * s / c))
        s -= c
    return 1e-5


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=3.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
total = WARM + sum(CYCLES)
bs = 64
t0 = time.time()
order = np.random.default_rng(5).permutation(ntr)
pos = 0
run = []
for step in range(total + 1):
    lr = lr_at(step)
    opt.learning_rate = lr
    if pos + bs > ntr:
        order = np.random.default_rng(100 + step).permutation(ntr)
        pos = 0
    idx = mx.array(order[pos:pos + bs])
    pos += bs
    loss, grads = vg(model, Xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 30 == 0 or step == total:
        pred = model(Xva)
        mae = mx.mean(mx.abs(pred - yva)).item()
        print(json.dumps({"step": step, "lr": round(lr, 6), "huber": round(float(np.mean(run)), 4),
                          "val_mae_cm": round(mae, 3), "ref_mae_cm": round(ref_mae, 3),
                          "gain_pct": round(100 * (ref_mae - mae) / ref_mae, 1)}))
        run = []
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1)}))
