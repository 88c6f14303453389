"""Bandoneon reed bench: predict how many cents a freshly riveted reed tongue
sits off its target pitch, from 7 bench readings.

Stage 1 trains a base model on the Hamburg workshop's reeds.
Stage 2 keeps that base frozen and learns low-rank adapters for the
Montevideo workshop (different steel, different filing habits).  Halfway
through stage 2 the run saves adapters + optimizer state, drops everything,
rebuilds the model from scratch and resumes from the saved files.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()
rng = np.random.default_rng(11)
mx.random.seed(11)

FEATS = ["tongue_len_mm", "tongue_thick_mm", "tip_file_um", "root_file_um",
         "rivet_torque", "plate_temp_c", "steel_hardness"]


def make_reeds(n, shop):
    x = rng.normal(size=(n, 7)).astype(np.float32)
    if shop == "hamburg":
        c = (14.0 * x[:, 0] - 11.0 * x[:, 1] + 6.0 * np.tanh(1.5 * x[:, 2])
             - 3.5 * x[:, 3] + 2.0 * x[:, 4] * x[:, 5] + 1.5 * x[:, 6])
        noise = 0.9
    else:  # montevideo: softer steel, heavier tip filing, a temperature drift
        c = (14.0 * x[:, 0] - 11.0 * x[:, 1] + 9.5 * np.tanh(1.5 * x[:, 2])
             - 3.5 * x[:, 3] + 2.0 * x[:, 4] * x[:, 5] - 2.5 * x[:, 6]
             + 3.0 * x[:, 5] + 1.2 * x[:, 2] * x[:, 6])
        noise = 1.1
    c = c + noise * rng.normal(size=n)
    return x, c.astype(np.float32)


xa, ya = make_reeds(6000, "hamburg")
xb, yb = make_reeds(900, "montevideo")
xb_val, yb_val = make_reeds(1500, "montevideo")
mu, sd = xa.mean(0), xa.std(0)
ymu, ysd = float(ya.mean()), float(ya.std())


def prep(x, y):
    return mx.array((x - mu) / sd), mx.array((y - ymu) / ysd)


XA, YA = prep(xa, ya)
XB, YB = prep(xb, yb)
XV, YV = prep(xb_val, yb_val)


class LowRankLinear(nn.Module):
    """A frozen dense layer plus a trainable rank-r update (B starts at 0)."""

    def __init__(self, din, dout, rank=4, alpha=8.0):
        super().__init__()
        self.base = nn.Linear(din, dout)
        s = 1.0 / np.sqrt(din)
        self.lora_a = mx.random.uniform(-s, s, (din, rank))
        self.lora_b = mx.zeros((rank, dout))
        self.scale = alpha / rank
        self.use_adapter = False

    def __call__(self, x):
        y = self.base(x)
        if self.use_adapter:
            y = y + self.scale * ((x @ self.lora_a) @ self.lora_b)
        return y


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = LowRankLinear(7, 64)
        self.l2 = LowRankLinear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

    def adapters_on(self):
        self.freeze()
        for layer in (self.l1, self.l2):
            layer.use_adapter = True
            layer.unfreeze(keys=["lora_a", "lora_b"], recurse=False)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def cents_rmse(model, x, y):
    return float(mx.sqrt(((model(x) - y) ** 2).mean())) * ysd


# ---------------- stage 1: base model, Hamburg reeds (quiet) ----------------
model = ReedNet()
model.freeze(keys=["lora_a", "lora_b"])
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, mse)
print(f"reed bench | hamburg train {len(ya)}  montevideo adapt {len(yb)}  montevideo val {len(yb_val)}")
print(f"reed bench | base trainable leaves {len(tree_flatten(model.trainable_parameters()))}")
n_a = XA.shape[0]
for ep in range(14):
    perm = mx.array(rng.permutation(n_a))
    for i in range(0, n_a, 128):
        idx = perm[i:i + 128]
        loss, g = step_fn(model, XA[idx], YA[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
ham_val_x, ham_val_y = prep(*make_reeds(1500, "hamburg"))
base_on_b = cents_rmse(model, XV, YV)
print(f"reed bench | stage 1 done: hamburg val {cents_rmse(model, ham_val_x, ham_val_y):.2f} cents, "
      f"same base on montevideo val {base_on_b:.2f} cents")

frozen_snapshot = {k: np.array(v) for k, v in tree_flatten(model.parameters())
                   if "lora" not in k}
base_weights = [(k, v) for k, v in tree_flatten(model.parameters()) if "lora" not in k]


# ---------------- stage 2: adapters on Montevideo reeds ----------------
TOTAL, WARM, PEAK, BATCH = 1200, 150, 3e-3, 64
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 5e-5)],
    [WARM])


def build_stage2():
    m = ReedNet()
    m.load_weights(base_weights, strict=False)
    m.adapters_on()
    mx.eval(m.parameters())
    o = optim.Adam(learning_rate=lr_sched)
    return m, o


model, opt = build_stage2()
step_fn = nn.value_and_grad(model, mse)
names = [k for k, _ in tree_flatten(model.trainable_parameters())]
print(f"reed bench | adapter leaves {len(names)}: {', '.join(names)}")
_, g0 = step_fn(model, XB[:BATCH], YB[:BATCH])
for k, v in tree_flatten(g0):
    print(f"reed bench | first grad |{k}| = {float(mx.sqrt((v * v).sum())):.3e}")
print(f"reed bench | adapter start: montevideo val {cents_rmse(model, XV, YV):.2f} cents "
      f"(base {base_on_b:.2f}, predict-the-mean {float(np.std(yb_val)):.2f})")

ckpt_dir = tempfile.mkdtemp()
n_b = XB.shape[0]
step, window = 0, []


def run_until(stop):
    global step, window, model, opt, step_fn
    while step < stop:
        idx = mx.array(rng.choice(n_b, BATCH, replace=False))
        lr_now = float(lr_sched(opt.step))
        loss, g = step_fn(model, XB[idx], YB[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(float(loss))
        if step in (1, 2) or step % 150 == 0:
            print(f"reed bench | adapt {step:4d}/{TOTAL} | lr {lr_now:.2e} | "
                  f"mse(z) {np.mean(window):.4f} | val {cents_rmse(model, XV, YV):5.2f} cents "
                  f"(base {base_on_b:.2f}) | {time.time() - T0:5.1f}s")
            window = []


run_until(600)

# save adapters + optimizer state, throw everything away, resume
adapter_file = os.path.join(ckpt_dir, "adapters.safetensors")
opt_file = os.path.join(ckpt_dir, "optimizer.safetensors")
mx.save_safetensors(adapter_file, dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(opt_file, dict(tree_flatten(opt.state)))
val_before = cents_rmse(model, XV, YV)
del model, opt, step_fn
print(f"reed bench | saved step {step} to {os.path.basename(ckpt_dir)}; process state dropped")

model, opt = build_stage2()
model.load_weights(list(mx.load(adapter_file).items()), strict=False)
opt.state = tree_unflatten(list(mx.load(opt_file).items()))
mx.eval(model.parameters(), opt.state)
step_fn = nn.value_and_grad(model, mse)
print(f"reed bench | resumed at optimizer step {int(opt.step)}: val {cents_rmse(model, XV, YV):.2f} cents "
      f"(before save {val_before:.2f})")
run_until(TOTAL)

drift = max(float(np.abs(np.array(v) - frozen_snapshot[k]).max())
            for k, v in tree_flatten(model.parameters()) if "lora" not in k)
final = cents_rmse(model, XV, YV)
print(f"reed bench | frozen base drift {drift:.1e}")
print(f"reed bench | done: montevideo val {final:.2f} cents vs base {base_on_b:.2f} "
      f"({100 * (1 - final / base_on_b):.0f}% lower), noise floor ~1.1 | {time.time() - T0:.1f}s")
