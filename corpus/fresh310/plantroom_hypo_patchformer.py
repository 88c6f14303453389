"""Public pool plant room: forecast free chlorine (mg/L) for the next 6 hours
from the last 24 hourly readings. Patch-token transformer with per-window
instance normalisation of the chlorine channel. Training is split into two
sessions with a checkpoint in between (as on the plant-room laptop, which is
shut down at closing time)."""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LOOKBACK, HORIZON, PATCH = 24, 6, 4
N_FEAT = 5
TOTAL_STEPS, SESSION_END, BATCH = 600, 300, 64
REPORT = {1, 25, 50, 100, 150, 200, 250, 300, 301, 350, 400, 450, 500, 550, 600}

rng = np.random.default_rng(7)
mx.random.seed(7)


def simulate_pool(hours):
    """Hourly plant-room log of one pool (made-up chemistry)."""
    h = np.arange(hours)
    hour_of_day = h % 24
    open_hours = (hour_of_day >= 7) & (hour_of_day <= 21)
    weekend = ((h // 24) % 7) >= 5
    bathers = open_hours * (40 + 50 * weekend + 30 * np.sin(np.pi * (hour_of_day - 7) / 14).clip(0))
    bathers = bathers * rng.uniform(0.7, 1.3, hours)
    uv = np.clip(np.sin(np.pi * (hour_of_day - 6) / 14), 0, None) * rng.uniform(0.3, 1.0)
    temp = 27.5 + rng.normal(0, 0.6) + 0.4 * np.sin(2 * np.pi * h / (24 * 9))
    c = np.empty(hours)
    dose = np.zeros(hours)
    c[0] = 1.4
    pump_on = False
    for t in range(hours - 1):
        if c[t] < 1.1:
            pump_on = True
        elif c[t] > 1.7:
            pump_on = False
        dose[t] = 1.0 if pump_on else 0.0
        demand = c[t] * (0.015 + 0.06 * uv[t]) * (1 + 0.05 * (temp[t] - 27.5))
        c[t + 1] = c[t] + 0.09 * dose[t] - demand - 0.0009 * bathers[t] + rng.normal(0, 0.01)
        c[t + 1] = max(c[t + 1], 0.05)
    measured = c + rng.normal(0, 0.04, hours)
    feats = np.stack([measured, dose, bathers / 100.0, uv, (temp - 27.5) / 2.0], axis=1)
    return feats.astype(np.float32)


def windows(series_list):
    xs, ys = [], []
    for s in series_list:
        for start in range(0, len(s) - LOOKBACK - HORIZON, 3):
            xs.append(s[start:start + LOOKBACK])
            ys.append(s[start + LOOKBACK:start + LOOKBACK + HORIZON, 0])
    return np.stack(xs), np.stack(ys)


pools = [simulate_pool(24 * 35) for _ in range(14)]
x_tr, y_tr = windows(pools[:11])
x_va, y_va = windows(pools[11:])
x_tr, y_tr, x_va, y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))


class PatchForecaster(nn.Module):
    def __init__(self, dims=32, heads=4):
        super().__init__()
        n_patch = LOOKBACK // PATCH
        self.embed = nn.Linear(PATCH * N_FEAT, dims)
        self.pos = mx.random.normal((n_patch, dims)) * 0.02
        self.encoder = nn.TransformerEncoder(num_layers=2, dims=dims, num_heads=heads, mlp_dims=2 * dims)
        self.head = nn.Linear(n_patch * dims, HORIZON)

    def __call__(self, x):
        chl = x[..., 0]
        mu = mx.mean(chl, axis=1, keepdims=True)
        sd = mx.sqrt(mx.var(chl, axis=1, keepdims=True) + 1e-4)
        x = mx.concatenate([((chl - mu) / sd)[..., None], x[..., 1:]], axis=-1)
        b = x.shape[0]
        tokens = x.reshape(b, LOOKBACK // PATCH, PATCH * N_FEAT)
        h = self.embed(tokens) + self.pos
        h = self.encoder(h, None)
        out = self.head(h.reshape(b, -1))
        return out * sd + mu


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def val_mae(model):
    return mx.mean(mx.abs(model(x_va) - y_va)).item()


def make_schedule():
    warm = optim.linear_schedule(0.0, 2e-3, 60)
    decay = optim.cosine_decay(2e-3, TOTAL_STEPS - 60, 1e-5)
    return optim.join_schedules([warm, decay], [60])


persistence_mae = mx.mean(mx.abs(x_va[:, -1:, 0] - y_va)).item()
print(f"pools: 11 train / 3 held-out, windows {x_tr.shape[0]} / {x_va.shape[0]}, "
      f"lookback {LOOKBACK} h, horizon {HORIZON} h, patch {PATCH} h")
print(f"persistence baseline  val MAE {persistence_mae:.4f} mg/L")
print(f"probe noise floor     ~{0.04 * np.sqrt(2 / np.pi):.4f} mg/L (sensor sd 0.04)")
print()
print(f"{'step':>5} {'lr':>9} {'train_mse':>10} {'val_mae':>9} {'vs_persist':>10} {'sec':>6}")

ckpt_dir = tempfile.mkdtemp()
t0 = time.time()


def run_session(model, opt, first_step, last_step):
    lvg = nn.value_and_grad(model, loss_fn)
    n = x_tr.shape[0]
    for step in range(first_step, last_step + 1):
        idx = mx.array(rng.integers(0, n, BATCH))
        lr_now = opt.learning_rate.item()
        loss, grads = lvg(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in REPORT:
            mae = val_mae(model)
            print(f"{step:>5} {lr_now:>9.2e} {loss.item():>10.5f} {mae:>9.4f} "
                  f"{mae / persistence_mae:>10.3f} {time.time() - t0:>6.1f}")


# session 1: morning
model = PatchForecaster()
opt = optim.Adam(learning_rate=make_schedule())
mx.eval(model.parameters())
run_session(model, opt, 1, SESSION_END)
model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = val_mae(model)
print(f"-- closing time: checkpoint written at step {SESSION_END} ({before:.4f} mg/L) --")
del model, opt

# session 2: next morning, fresh process state
model = PatchForecaster()
model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt = optim.Adam(learning_rate=make_schedule())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = val_mae(model)
print(f"-- reopened: optimizer step {int(opt.state['step'].item())}, val MAE {after:.4f} mg/L "
      f"(same as saved: {abs(after - before) < 1e-6}) --")
run_session(model, opt, SESSION_END + 1, TOTAL_STEPS)

final = val_mae(model)
pred = model(x_va)
per_h = mx.mean(mx.abs(pred - y_va), axis=0)
pers_h = mx.mean(mx.abs(x_va[:, -1:, 0] - y_va), axis=0)
print()
print("hour ahead   model MAE   persistence MAE")
for k in range(HORIZON):
    print(f"  +{k + 1} h       {per_h[k].item():.4f}      {pers_h[k].item():.4f}")
print(f"final val MAE {final:.4f} mg/L, persistence {persistence_mae:.4f}, "
      f"skill {100 * (1 - final / persistence_mae):.1f}%")
