"""Rock-salt mine survey: pillar creep rate (mm/year) from 8 survey readings.

Reversible residual network (RevNet coupling). The whole block stack runs
inside one mx.custom_function whose backward pass rebuilds every block input
from the block output, so no per-block activations are kept for the backward
pass. A one-off check compares those gradients with plain autograd.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_VAL = 6000, 1500
HALF = 16          # each stream is 16 wide, 32 in total
N_BLOCKS = 6
HIDDEN = 32
BATCH = 128
EPOCHS = 14
NOISE = 0.30       # std of the survey noise, in target units (standardised)

rng = np.random.default_rng(SEED)


def make_data(n):
    depth = rng.uniform(150, 900, n)            # m
    wh = rng.uniform(0.6, 3.0, n)               # pillar width / height
    extr = rng.uniform(0.3, 0.8, n)             # extraction ratio
    temp = rng.uniform(12, 38, n)               # deg C
    moist = rng.uniform(0.0, 1.0, n)            # brine seepage index
    age = rng.uniform(1, 60, n)                 # years
    vib = rng.exponential(1.0, n)               # blasting vibration
    junk = rng.normal(size=n)                   # survey column with no effect
    stress = depth * 0.022 / (1.0 - extr)       # tributary-area stress, MPa
    log_rate = (
        -1.0
        + 2.2 * np.log(stress / 20.0)
        - 0.9 * np.log(wh)
        + 0.045 * (temp - 25.0)
        + 0.6 * moist * (stress > 40)
        - 0.25 * np.log(age)
        + 0.15 * np.tanh(vib - 1.0)
    )
    X = np.stack([depth, wh, extr, temp, moist, age, vib, junk], axis=1)
    return X.astype(np.float32), log_rate.astype(np.float32)


Xtr, ftr = make_data(N_TRAIN)
Xva, fva = make_data(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ymu, ysd = ftr.mean(), ftr.std()
ytr = (ftr - ymu) / ysd + NOISE * rng.normal(size=N_TRAIN).astype(np.float32)
yva = (fva - ymu) / ysd + NOISE * rng.normal(size=N_VAL).astype(np.float32)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


def mlp(p, h):
    return mx.tanh(h @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def stack_forward(blocks, x1, x2):
    for b in blocks:
        x1 = x1 + mlp(b["F"], x2)
        x2 = x2 + mlp(b["G"], x1)
    return x1, x2


KEYS = ("w1", "b1", "w2", "b2")


def block_vjp(p, h, cot):
    def f(w1, b1, w2, b2, h):
        return mlp({"w1": w1, "b1": b1, "w2": w2, "b2": b2}, h)

    _, grads = mx.vjp(f, [p[k] for k in KEYS] + [h], [cot])
    return dict(zip(KEYS, grads[:4])), grads[4]


@mx.custom_function
def rev_stack(blocks, x1, x2):
    y1, y2 = stack_forward(blocks, x1, x2)
    return y1, y2


@rev_stack.vjp
def rev_stack_vjp(primals, cotangents, outputs):
    blocks = primals[0]
    y1, y2 = outputs
    g1, g2 = cotangents
    grads = []
    for b in reversed(blocks):
        # rebuild the block input from its output
        x2 = y2 - mlp(b["G"], y1)
        x1 = y1 - mlp(b["F"], x2)
        # y2 = x2 + G(y1)
        dG, dy1_extra = block_vjp(b["G"], y1, g2)
        g1 = g1 + dy1_extra
        # y1 = x1 + F(x2)
        dF, dx2_extra = block_vjp(b["F"], x2, g1)
        g2 = g2 + dx2_extra
        grads.append({"F": dF, "G": dG})
        y1, y2 = mx.stop_gradient(x1), mx.stop_gradient(x2)
    grads.reverse()
    return grads, g1, g2


def init_mlp(d_in, d_hid, d_out, scale):
    return {
        "w1": mx.random.normal((d_in, d_hid)) * (1.0 / math.sqrt(d_in)),
        "b1": mx.zeros((d_hid,)),
        "w2": mx.random.normal((d_hid, d_out)) * (scale / math.sqrt(d_hid)),
        "b2": mx.zeros((d_out,)),
    }


class RevRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 2 * HALF)
        self.blocks = [
            {"F": init_mlp(HALF, HIDDEN, HALF, 0.5), "G": init_mlp(HALF, HIDDEN, HALF, 0.5)}
            for _ in range(N_BLOCKS)
        ]
        self.out = nn.Linear(2 * HALF, 1)
        self.use_reversible = True

    def __call__(self, x):
        h = self.inp(x)
        x1, x2 = h[:, :HALF], h[:, HALF:]
        if self.use_reversible:
            y1, y2 = rev_stack(self.blocks, x1, x2)
        else:
            y1, y2 = stack_forward(self.blocks, x1, x2)
        return self.out(mx.concatenate([y1, y2], axis=1)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_mse(model):
    return loss_fn(model, Xva, yva).item()


def make_optimizer(total_steps):
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total_steps - warm, 1e-5)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


mx.random.seed(SEED)
model = RevRegressor()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"model: RevNet {N_BLOCKS} coupling blocks, streams 2x{HALF}, params {n_params}")

# one-off gradient check: reversible backward vs plain autograd
xb, yb = Xtr[:256], ytr[:256]
gfn = nn.value_and_grad(model, loss_fn)
model.use_reversible = True
l_rev, g_rev = gfn(model, xb, yb)
model.use_reversible = False
l_ref, g_ref = gfn(model, xb, yb)
model.use_reversible = True
diffs = [mx.abs(a - b).max().item() / (mx.abs(b).max().item() + 1e-12)
         for (_, a), (_, b) in zip(tree_flatten(g_rev), tree_flatten(g_ref))]
print(f"grad check: loss {l_rev.item():.6f} vs {l_ref.item():.6f}, max rel diff over {len(diffs)} tensors {max(diffs):.2e}")

steps_per_epoch = N_TRAIN // BATCH
total_steps = steps_per_epoch * EPOCHS
opt = make_optimizer(total_steps)
vg = nn.value_and_grad(model, loss_fn)

print(f"baselines: predict-mean val mse {mx.mean((yva - ytr.mean()) ** 2).item():.4f}, "
      f"noise floor {NOISE ** 2:.4f}")
print(f"lr schedule: linear warm-up from 0.0 over 150 steps, cosine to 1e-5; {total_steps} steps")

ckpt_dir = tempfile.mkdtemp()
step = 0
t0 = time.perf_counter()


def run_epoch(model, opt, vg, perm):
    global step
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    return tot / steps_per_epoch


for epoch in range(1, EPOCHS + 1):
    perm = np.random.default_rng(SEED + epoch).permutation(N_TRAIN)
    if epoch == 1:
        lr0 = opt.learning_rate.item()
        w_before = model.out.weight.sum().item()
    tr = run_epoch(model, opt, vg, perm)
    if epoch == 1:
        print(f"first step ran at lr {lr0:.1e} (warm-up start); head weight sum {w_before:.5f} -> {model.out.weight.sum().item():.5f} after epoch 1")
    v = val_mse(model)
    if epoch % 2 == 0 or epoch == 1:
        print(f"epoch {epoch:2d} step {step:5d} lr {opt.learning_rate.item():.2e} train mse {tr:.4f} val mse {v:.4f}")
    if epoch == 7:
        # checkpoint, then carry on from a fresh model/optimizer loaded from disk
        wpath = os.path.join(ckpt_dir, "weights.safetensors")
        opath = os.path.join(ckpt_dir, "optimizer.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        v_saved = v
        model = RevRegressor()
        model.load_weights(wpath)
        opt = make_optimizer(total_steps)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        vg = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        print(f"checkpoint saved and reloaded at step {step}: val mse {v_saved:.4f} -> {val_mse(model):.4f}, "
              f"optimizer step counter {opt.state['step'].item()}")

final = val_mse(model)
print(f"final val mse {final:.4f} (noise floor {NOISE ** 2:.4f}), val rmse in log-rate units {math.sqrt(final) * ysd:.3f}")
print(f"done in {time.perf_counter() - t0:.1f}s")
