# Chairlift queue: predict the lift-line wait (minutes) at a ski resort from
# seven hourly readings, hand the half-trained weights to a "partner" format
# (float16, torch-style key names, one flat file), import them back into a
# fresh model and finish training there with a new optimizer.
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(262)
N_TRAIN, N_TEST = 8000, 2000


def make(n):
    hour = rng.uniform(8.5, 16.5, n)
    snow = rng.gamma(1.2, 8.0, n)            # cm fresh snow overnight
    temp = rng.normal(-6, 5, n)              # deg C
    wind = rng.gamma(2.0, 6.0, n)            # km/h at the top station
    weekend = (rng.uniform(size=n) < 0.3).astype(np.float64)
    lifts_open = rng.integers(3, 9, n).astype(np.float64)
    school_break = (rng.uniform(size=n) < 0.2).astype(np.float64)
    crowd = 1.0 + 0.9 * weekend + 0.6 * school_break + 0.025 * snow
    peak = np.exp(-0.5 * ((hour - 11.0) / 1.4) ** 2) + 0.5 * np.exp(-0.5 * ((hour - 13.5) / 1.0) ** 2)
    wait = 14.0 * crowd * peak * (8.0 / lifts_open) * np.exp(-0.02 * np.maximum(wind - 30, 0))
    wait = wait * np.exp(0.03 * np.minimum(temp, 0) + 0.03)
    wait = np.maximum(wait + rng.normal(0, 1.5, n), 0.0)
    x = np.stack([hour, snow, temp, wind, weekend, lifts_open, school_break], 1)
    return x.astype(np.float32), wait.astype(np.float32)


xtr, ytr = make(N_TRAIN)
xte, yte = make(N_TEST)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))


class QueueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.mid = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = self.norm(h + nn.silu(self.mid(h)))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


def evaluate(model):
    p = model(Xte)
    rmse = mx.sqrt(mx.mean((p - Yte) ** 2)).item()
    mae = mx.mean(mx.abs(p - Yte)).item()
    return rmse, mae


base_pred = float(ytr.mean())
base_rmse = float(np.sqrt(np.mean((yte - base_pred) ** 2)))

# torch-style names used by the partner tool
TO_PARTNER = {"inp": "encoder.0", "mid": "encoder.2", "norm": "encoder.3", "out": "head"}
FROM_PARTNER = {v: k for k, v in TO_PARTNER.items()}


def export_partner(model, path):
    flat = {}
    for k, v in tree_flatten(model.parameters()):
        top, rest = k.split(".", 1)
        flat[f"{TO_PARTNER[top]}.{rest}"] = v.astype(mx.float16)
    mx.save_safetensors(path, flat, metadata={"format": "pt", "dtype": "float16"})


def import_partner(model, path):
    loaded = mx.load(path)
    pairs = []
    for k, v in loaded.items():
        prefix, leaf = k.rsplit(".", 1)
        pairs.append((f"{FROM_PARTNER[prefix]}.{leaf}", v.astype(mx.float32)))
    model.load_weights(pairs, strict=True)


def make_schedule(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)],
        [warm],
    )


def run_stage(model, tag, steps, peak_lr, warm, seed):
    opt = optim.AdamW(learning_rate=make_schedule(peak_lr, warm, steps), weight_decay=1e-4)
    grad_fn = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(seed)
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.array(order.integers(0, N_TRAIN, 128))
        lr_now = opt.learning_rate.item() if step > 1 else 0.0
        loss, grads = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step in (1, 2) or step % 250 == 0:
            rmse, mae = evaluate(model)
            print(f"{tag}\t{step}\t{lr_now:.2e}\t{loss.item():.4f}\t{rmse:.3f}\t{mae:.3f}\t{base_rmse:.3f}\t{time.time() - t0:.1f}")
    return opt


mx.random.seed(7)
print(f"# wait minutes: mean {ytr.mean():.2f}, sd {ytr.std():.2f}; predict-the-mean test rmse {base_rmse:.3f}")
print("stage\tstep\tlr\tbatch_huber\ttest_rmse_min\ttest_mae_min\tmean_baseline_rmse\tsec")

model_a = QueueNet()
mx.eval(model_a.parameters())
run_stage(model_a, "mountain-A", 1500, 3e-3, 150, seed=1)
rmse_a, _ = evaluate(model_a)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "queue_partner.safetensors")
    export_partner(model_a, path)
    with open(os.path.join(tmp, "card.json"), "w") as f:
        json.dump({"mu": mu.tolist(), "sd": sd.tolist(), "test_rmse": rmse_a}, f)
    size_kb = os.path.getsize(path) / 1024
    model_b = QueueNet()
    import_partner(model_b, path)
    mx.eval(model_b.parameters())

gap = max(
    mx.max(mx.abs(a - b)).item()
    for (_, a), (_, b) in zip(tree_flatten(model_a.parameters()), tree_flatten(model_b.parameters()))
)
rmse_b, _ = evaluate(model_b)
print(f"# partner file {size_kb:.1f} KiB float16; largest weight change after the round trip {gap:.2e}; "
      f"test rmse {rmse_a:.3f} -> {rmse_b:.3f}")
del model_a

# stage B: a fresh optimizer, warm-up from 0 again, lower peak
run_stage(model_b, "mountain-B", 1500, 1e-3, 150, seed=2)
rmse_f, mae_f = evaluate(model_b)
print(f"# final test rmse {rmse_f:.3f} min, mae {mae_f:.3f} min (predict-the-mean {base_rmse:.3f}, noise sd 1.5)")
