"""Onsen plumbing: predict the bath-outlet temperature (degC) from spring/pipe readings.

Random-Fourier front end is frozen on purpose; only the head learns.
Cosine schedule with warm restarts (SGDR), one JSON object per log line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)


def make_baths(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 5), key=k1)
    source_c = 52 + 20 * u[:, 0]          # spring source temperature
    flow_lpm = 5 + 35 * u[:, 1]           # litres/minute
    air_c = -5 + 35 * u[:, 2]
    pipe_m = 10 + 190 * u[:, 3]
    cold_mix = u[:, 4]                    # fraction of cold tap added
    # made-up Newton-cooling law along the pipe, then a cold-water mix
    k = 0.9 / (flow_lpm + 2.0)
    pipe_out = air_c + (source_c - air_c) * mx.exp(-k * pipe_m / 10)
    outlet = (1 - 0.6 * cold_mix) * pipe_out + 0.6 * cold_mix * 12.0
    outlet = outlet + 0.4 * mx.random.normal((n,), key=k2)
    x = mx.stack([(source_c - 62) / 6, (flow_lpm - 22) / 10, (air_c - 12) / 10,
                  (pipe_m - 105) / 55, (cold_mix - 0.5) / 0.29], axis=1)
    return x, outlet


class OutletNet(nn.Module):
    def __init__(self, d_in=5, n_feat=96, hidden=64):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)          # frozen random features
        self.head = nn.Sequential(nn.Linear(2 * n_feat, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 1))
        self.bias_c = mx.array([40.0])

    def __call__(self, x):
        z = self.rff(x)
        feats = mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)
        return self.head(feats).squeeze(-1) + self.bias_c


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


kt, kv = mx.random.split(mx.random.key(4))
xtr, ytr = make_baths(4096, kt)
xva, yva = make_baths(1024, kv)
baseline_rmse = math.sqrt(mx.mean((yva - ytr.mean()) ** 2).item())

model = OutletNet()
model.rff.freeze()
mx.eval(model.parameters())

trainable = dict(tree_flatten(model.trainable_parameters()))
frozen_names = sorted(k for k, _ in tree_flatten(model.parameters()) if k not in trainable)

lr_peak = 4e-3
cycles = [60, 120, 240]                    # SGDR: each cycle twice as long
opt = optim.Adamax(learning_rate=lr_peak)
loss_and_grad = nn.value_and_grad(model, mse)

# one-off audit: every trainable leaf must receive gradient
_, g0 = loss_and_grad(model, xtr[:256], ytr[:256])
gnorms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g0)}
print(json.dumps({"event": "audit", "frozen": frozen_names,
                  "min_grad_norm": round(min(gnorms.values()), 6),
                  "n_trainable": len(gnorms)}))

rff_before = mx.array(model.rff.weight)
best = (float("inf"), None, None)
step = 0
t0 = time.perf_counter()
bs = 128
for c, length in enumerate(cycles):
    for t in range(length):
        lr = 0.5 * lr_peak * (1 + math.cos(math.pi * t / length))
        opt.learning_rate = lr
        idx = mx.random.randint(0, xtr.shape[0], (bs,))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if t % 20 == 0 or t == length - 1:
            val = mse(model, xva, yva).item()
            print(json.dumps({"cycle": c, "t": t, "step": step, "lr": round(lr, 6),
                              "train_mse": round(loss.item(), 4),
                              "val_rmse_degC": round(math.sqrt(val), 4),
                              "mean_predictor_rmse": round(baseline_rmse, 4)}))
            if val < best[0]:
                best = (val, step, {k: mx.array(v) for k, v in tree_flatten(model.parameters())})

last_val = mse(model, xva, yva).item()
model.load_weights(list(best[2].items()))
mx.eval(model.parameters())
restored_val = mse(model, xva, yva).item()
drift = mx.abs(model.rff.weight - rff_before).max().item()
print(json.dumps({"event": "done", "seconds": round(time.perf_counter() - t0, 2),
                  "last_val_rmse": round(math.sqrt(last_val), 4),
                  "best_step": best[1], "restored_val_rmse": round(math.sqrt(restored_val), 4),
                  "rff_max_abs_change": drift}))
