"""Bakery dough proofing: predict the 10/50/90 % quantiles of proofing time (minutes).

The three quantiles come out of one head as base + cumulative softplus increments, so
they never cross.  Between the trunk and the head sits a guard whose forward pass is the
identity and whose backward pass clips each cotangent element to [-0.05, 0.05].

The run is split in two sessions: session 1 trains 6 epochs and writes a checkpoint
(weights + optimizer state); session 2 builds a new model and optimizer, loads the
checkpoint and trains 6 more epochs.  Lines are logfmt (key=value) and only every
second epoch is reported.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
TAUS = mx.array([0.1, 0.5, 0.9])


def bake(n):
    dough_t = rng.uniform(20, 30, n)
    room_h = rng.uniform(40, 90, n)
    yeast = rng.uniform(0.5, 2.5, n)
    hydration = rng.uniform(60, 85, n)
    strength = rng.uniform(9, 14, n)
    median = (95 * np.exp(-0.07 * (dough_t - 24)) / (0.6 + 0.4 * yeast)
              * (1 + 0.006 * (strength - 11) * 10) * (1 - 0.002 * (hydration - 70)))
    spread = 0.06 + 0.010 * np.abs(room_h - 65) / 5          # humid/dry rooms vary more
    minutes = median * np.exp(rng.normal(0, spread))
    x = np.stack([dough_t, room_h, yeast, hydration, strength], 1).astype(np.float32)
    return x, minutes.astype(np.float32)


x_tr, y_tr = bake(9000)
x_te, y_te = bake(2000)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
X_tr, X_te = mx.array((x_tr - mu) / sd), mx.array((x_te - mu) / sd)
Y_tr, Y_te = mx.array((y_tr - y_mu) / y_sd), mx.array((y_te - y_mu) / y_sd)


@mx.custom_function
def guard(x):
    return x


@guard.vjp
def guard_vjp(primals, cotangent, output):
    return mx.clip(cotangent, -0.05, 0.05)


class ProofNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        raw = self.head(guard(self.trunk(x)))
        base = raw[:, :1]
        steps = nn.softplus(raw[:, 1:])
        return mx.concatenate([base, base + mx.cumsum(steps, axis=1)], axis=1)


def pinball(model, x, y):
    q = model(x)
    e = y[:, None] - q
    return mx.mean(mx.maximum(TAUS * e, (TAUS - 1) * e))


def evaluate(model):
    q = np.array(model(X_te)) * y_sd + y_mu
    inside = np.mean((y_te >= q[:, 0]) & (y_te <= q[:, 2])) * 100
    below50 = np.mean(y_te <= q[:, 1]) * 100
    mae = np.mean(np.abs(q[:, 1] - y_te))
    width = np.mean(q[:, 2] - q[:, 0])
    return float(pinball(model, X_te, Y_te)), inside, below50, mae, width


def run_epochs(model, opt, first, last, batch=128):
    step = nn.value_and_grad(model, pinball)
    n = X_tr.shape[0]
    for ep in range(first, last + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            loss, g = step(model, X_tr[idx], Y_tr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * idx.shape[0]
            cnt += idx.shape[0]
        if ep % 2 == 0:
            te, inside, b50, mae, width = evaluate(model)
            print(f"epoch={ep} lr={float(opt.learning_rate):.2e} train_pinball={tot / cnt:.4f} "
                  f"test_pinball={te:.4f} cover_10_90_pct={inside:.1f} below_q50_pct={b50:.1f} "
                  f"q50_mae_min={mae:.2f} band_width_min={width:.1f}")


base_mae = float(np.mean(np.abs(y_te - np.median(y_tr))))
print(f"event=start train={len(y_tr)} test={len(y_te)} target_cover_pct=80.0 "
      f"target_below_q50_pct=50.0 median_baseline_mae_min={base_mae:.2f}")

t0 = time.time()
ckpt_dir = tempfile.mkdtemp(prefix="proofing_")
w_path = os.path.join(ckpt_dir, "weights.safetensors")
o_path = os.path.join(ckpt_dir, "optimizer.safetensors")

# ---- session 1
model = ProofNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
run_epochs(model, opt, 1, 6)
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
before = evaluate(model)[0]
print(f"event=checkpoint dir={os.path.basename(ckpt_dir)} test_pinball={before:.4f}")
del model, opt

# ---- session 2: fresh objects, state from disk
model = ProofNet()
model.load_weights(w_path)
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
opt.state = tree_unflatten(list(mx.load(o_path).items()))
opt.learning_rate = 5e-4
after = evaluate(model)[0]
print(f"event=resumed step={int(opt.state['step'])} test_pinball={after:.4f} "
      f"matches_checkpoint={abs(after - before) < 1e-6} lr_now=5.00e-04")
run_epochs(model, opt, 7, 12)

te, inside, b50, mae, width = evaluate(model)
print(f"event=done test_pinball={te:.4f} cover_10_90_pct={inside:.1f} below_q50_pct={b50:.1f} "
      f"q50_mae_min={mae:.2f} median_baseline_mae_min={base_mae:.2f} secs={time.time() - t0:.1f}")
for f in (w_path, o_path):
    os.remove(f)
os.rmdir(ckpt_dir)
