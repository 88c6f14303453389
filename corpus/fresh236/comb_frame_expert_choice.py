"""Apiary: daily hive weight change (kg) from six scale/weather readings.

Expert-choice mixture of experts (each expert picks its own tokens), a shared
skip head, linear warm-up from 0 then cosine decay, and a save/restore of the
model and optimizer half way through (the run continues from the saved files).
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
rng = np.random.default_rng(11)

# ---------------------------------------------------------------- data
def make_hives(n):
    temp = rng.uniform(5, 32, n)            # deg C
    rain = rng.exponential(2.0, n)           # mm
    bloom = rng.uniform(0, 1, n)             # forage index
    frames = rng.integers(4, 11, n).astype(np.float64)
    wind = rng.uniform(0, 12, n)             # m/s
    doy = rng.uniform(90, 270, n)            # day of year
    # three made-up regimes: flow days, dearth days, wet days
    flow = (bloom > 0.55) & (temp > 16)
    wet = rain > 3.0
    y = np.where(
        wet, -0.15 - 0.02 * frames + 0.01 * temp,
        np.where(flow, 0.25 * frames * bloom - 0.03 * wind + 0.02 * (temp - 16),
                 -0.05 * frames * (1 - bloom) + 0.005 * np.sin(doy / 30.0)))
    y = y + rng.normal(0, 0.08, n)
    X = np.stack([temp, rain, bloom, frames, wind, doy], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make_hives(6000)
Xva, yva = make_hives(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd

# yardsticks printed beside the model
mean_mae = float(np.abs(yva - ytr.mean()).mean())
A = np.c_[Xtr, np.ones(len(Xtr))]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
ls_mae = float(np.abs(np.c_[Xva, np.ones(len(Xva))] @ coef - yva).mean())

# ---------------------------------------------------------------- model
class Expert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, 1)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))[:, 0]


class ExpertChoiceRegressor(nn.Module):
    def __init__(self, d_in=6, d=32, n_exp=4, capacity=1.0):
        super().__init__()
        self.embed = nn.Linear(d_in, d)
        self.router = nn.Linear(d, n_exp)
        self.experts = [Expert(d, 32) for _ in range(n_exp)]
        self.skip = nn.Linear(d, 1)
        self.n_exp = n_exp
        self.capacity = capacity

    def __call__(self, x, return_cover=False):
        h = nn.silu(self.embed(x))
        B = h.shape[0]
        probs = mx.softmax(self.router(h), axis=-1)          # (B, E)
        cap = max(1, int(self.capacity * B / self.n_exp))
        pt = probs.T                                          # (E, B)
        idx = mx.stop_gradient(mx.argpartition(-pt, kth=cap - 1, axis=1)[:, :cap])  # (E, cap)
        gate = mx.take_along_axis(pt, idx, axis=1)            # (E, cap)
        out = self.skip(h)[:, 0]
        cover = mx.zeros((B,))
        for e, expert in enumerate(self.experts):
            rows = idx[e]
            ye = expert(h[rows]) * gate[e]
            out = out.at[rows].add(ye)
            cover = cover.at[rows].add(1.0)
        if return_cover:
            return out, cover
        return out


def mse_loss(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def evaluate(model):
    pred, cover = model(mx.array(Xva), return_cover=True)
    mae = mx.mean(mx.abs(pred - mx.array(yva)))
    unrouted = mx.mean(cover == 0)
    mx.eval(mae, unrouted)
    return mae.item(), 100.0 * unrouted.item()


# ---------------------------------------------------------------- training
BATCH = 128
EPOCHS = 10
steps_per_epoch = len(Xtr) // BATCH
total = EPOCHS * steps_per_epoch
warm = 120
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])


def build():
    m = ExpertChoiceRegressor()
    o = optim.Adam(learning_rate=schedule)
    return m, o


model, opt = build()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, mse_loss)

ckpt_dir = tempfile.mkdtemp(None, "apiary_")
w_path = os.path.join(ckpt_dir, "hive_model.safetensors")
o_path = os.path.join(ckpt_dir, "hive_opt.safetensors")

print(f"# hives train={len(Xtr)} val={len(Xva)} experts=4 capacity=1.0 "
      f"batch={BATCH} steps={total}")
mae0, unr0 = evaluate(model)
print(f"# yardsticks val MAE kg: mean-guess={mean_mae:.4f} least-squares={ls_mae:.4f}"
      f" untrained={mae0:.4f}")
print("epoch,step,lr,train_mse,val_mae_kg,unrouted_pct,least_squares_mae_kg")

t0 = time.time()
step = 0
epoch = 0
while epoch < EPOCHS:
    perm = rng.permutation(len(Xtr))
    run = 0.0
    for b in range(steps_per_epoch):
        ids = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        xb, yb = mx.array(Xtr)[ids], mx.array(ytr)[ids]
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            g = dict(tree_flatten(grads))
            live = sum(1 for v in g.values() if mx.abs(v).sum().item() > 0)
            print(f"# step 1 lr={lr_now:.1e} grad leaves non-zero {live}/{len(g)}")
        run += loss.item()
        step += 1
    epoch += 1
    mae, unr = evaluate(model)
    print(f"{epoch},{step},{opt.learning_rate.item():.2e},{run / steps_per_epoch:.5f},"
          f"{mae:.4f},{unr:.1f},{ls_mae:.4f}")

    if epoch == 5:
        # write both halves of the state, drop them, and pick up from disk
        model.save_weights(w_path)
        mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
        before = mae
        del model, opt, step_fn
        model, opt = build()
        model.load_weights(w_path)
        opt.state = tree_unflatten(list(mx.load(o_path).items()))
        mx.eval(model.parameters(), opt.state)
        step_fn = nn.value_and_grad(model, mse_loss)
        after, _ = evaluate(model)
        print(f"# restored from {os.path.basename(w_path)} at step "
              f"{opt.state['step'].item()}: val MAE {before:.4f} -> {after:.4f}")

mae, unr = evaluate(model)
print(f"# done {time.time() - t0:.1f}s  val MAE {mae:.4f} kg  "
      f"(least-squares {ls_mae:.4f}, mean-guess {mean_mae:.4f})  unrouted {unr:.1f}%")
shutil.rmtree(ckpt_dir)
