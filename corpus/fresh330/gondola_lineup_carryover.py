"""Ski-lift queue model: pretrain at one resort, carry the trunk to a second resort.

Stage 0  pretrain a trunk + head on resort A (plenty of logged lift-hours)
         and save the weights to disk.
Stage 1  build a new model for resort B (extra input: gondola flag, new head),
         load only the trunk tensors from disk, freeze the trunk and fit the
         head; learning rate warms up linearly from exactly 0.
Stage 2  unfreeze everything and fine-tune with a small cosine-decayed rate.

Targets are queue wait minutes (standardised). Validation is reported next to
two baselines: the training-mean predictor and the same network trained on
resort B alone from random init.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_SHARED = 7  # hour sin/cos, weekend, snowfall cm, temp, skiers on hill (k), lift speed


def resort_features(n, gondola_share=0.0):
    hour = rng.uniform(8.5, 16.5, n)
    ang = 2 * np.pi * (hour - 8.5) / 8.0
    weekend = (rng.uniform(size=n) < 0.3).astype(np.float64)
    snow = rng.gamma(1.5, 6.0, n)
    temp = rng.normal(-6, 5, n)
    skiers = rng.uniform(1.0, 9.0, n) * (1 + 0.5 * weekend)
    speed = rng.uniform(3.5, 5.5, n)
    gondola = (rng.uniform(size=n) < gondola_share).astype(np.float64)
    X = np.stack([np.sin(ang), np.cos(ang), weekend, snow / 10, temp / 10, skiers / 5, speed - 4.5], 1)
    return X, gondola


def wait_law(X, gondola, shift):
    s, c, wk, snow, temp, sk, sp = X.T
    peak = np.exp(-((s - 0.9) ** 2 + (c + 0.1) ** 2) * 3.0)  # late-morning rush
    base = 4 + 9 * sk * (1 + peak) + 3 * wk * sk + 2.5 * np.tanh(snow) - 4 * sp
    cold = 1.5 * np.maximum(-temp - 1.0, 0)
    y = base - cold + shift * (3 * gondola * sk - 2 * sp * sk)
    return y


def make_resort(n, shift, gondola_share, noise):
    X, g = resort_features(n, gondola_share)
    y = wait_law(X, g, shift) + rng.normal(0, noise, n)
    return X, g, y


class QueueNet(nn.Module):
    def __init__(self, n_in, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


class QueueNetB(nn.Module):
    """Resort B: shared trunk on the 7 common inputs, head sees the gondola flag."""

    def __init__(self, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_SHARED, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Sequential(nn.Linear(hidden + 1, 32), nn.SiLU(), nn.Linear(32, 1))

    def __call__(self, x):
        h = self.trunk(x[:, :N_SHARED])
        return self.head(mx.concatenate([h, x[:, N_SHARED:]], axis=1)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def run_epochs(model, opt, X, Y, epochs, bs, log_every=None, tag="", order=None):
    order = order if order is not None else rng
    step_fn = nn.value_and_grad(model, mse)
    n = X.shape[0]
    step = 0
    last = None
    for ep in range(epochs):
        perm = mx.array(order.permutation(n))
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            step += 1
            last = loss.item()
            if log_every and (step % log_every == 0 or step == 1):
                lr = opt.learning_rate.item()
                print(f"{tag} step {step:4d}  loss {last:.4f}  lr {lr:.2e}")
    return last


t0 = time.time()

# ---------------- stage 0: resort A pretraining ----------------
XA, gA, yA = make_resort(12000, shift=0.0, gondola_share=0.0, noise=2.0)
muA, sdA = yA.mean(), yA.std()
XA_m = mx.array(XA.astype(np.float32))
yA_m = mx.array(((yA - muA) / sdA).astype(np.float32))
pre = QueueNet(N_SHARED)
mx.eval(pre.parameters())
opt0 = optim.Adam(learning_rate=2e-3)
print("stage 0: pretraining on resort A (12000 lift-hours)")
run_epochs(pre, opt0, XA_m, yA_m, epochs=6, bs=128, log_every=150, tag="[A]")
XAv, gAv, yAv = make_resort(2000, 0.0, 0.0, 2.0)
valA = mse(pre, mx.array(XAv.astype(np.float32)), mx.array(((yAv - muA) / sdA).astype(np.float32))).item()
print(f"[A] val mse {valA:.4f}  (noise floor ~{(2.0 / sdA) ** 2:.4f})")

ckpt_dir = tempfile.mkdtemp()
ckpt = os.path.join(ckpt_dir, "resortA.safetensors")
pre.save_weights(ckpt)
print(f"saved {len(tree_flatten(pre.parameters()))} tensors to {os.path.basename(ckpt)}")

# ---------------- resort B data (small) ----------------
XB, gB, yB = make_resort(600, shift=1.0, gondola_share=0.4, noise=2.0)
XBv, gBv, yBv = make_resort(2000, shift=1.0, gondola_share=0.4, noise=2.0)
muB, sdB = yB.mean(), yB.std()


def pack(X, g, y):
    return (mx.array(np.concatenate([X, g[:, None]], 1).astype(np.float32)),
            mx.array(((y - muB) / sdB).astype(np.float32)))


XB_m, yB_m = pack(XB, gB, yB)
XBv_m, yBv_m = pack(XBv, gBv, yBv)
mean_baseline = float(np.mean(((yBv - muB) / sdB) ** 2))
floorB = (2.0 / sdB) ** 2

# ---------------- stage 1: load trunk, frozen trunk, head warmup from 0 ----------------
model = QueueNetB()
mx.eval(model.parameters())
saved = mx.load(ckpt)
trunk_only = [(k, v) for k, v in saved.items() if k.startswith("trunk.")]
model.load_weights(trunk_only, strict=False)
same = all(mx.array_equal(dict(tree_flatten(model.parameters()))[k], v).item() for k, v in trunk_only)
print(f"stage 1: loaded {len(trunk_only)} trunk tensors from disk (match={same}), head is new")
model.trunk.freeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"trainable {n_train} / {n_all} parameters")
print(f"stage 1 start: val mse {mse(model, XBv_m, yBv_m).item():.4f}")
opt1 = optim.Adam(learning_rate=optim.linear_schedule(0.0, 3e-3, 40))  # holds 3e-3 after step 40
run_epochs(model, opt1, XB_m, yB_m, epochs=25, bs=32, log_every=75, tag="[B1]")
v1 = mse(model, XBv_m, yBv_m).item()
print(f"stage 1 end: val mse {v1:.4f}")

# ---------------- stage 2: unfreeze, small cosine rate (quiet), with a mid-stage restart ----------------
from mlx.utils import tree_unflatten

model.unfreeze()
steps2 = 18 * (600 // 32)


def stage2_opt():
    return optim.AdamW(learning_rate=optim.cosine_decay(4e-4, steps2, 1e-5), weight_decay=1e-4)


# reference copy: same starting weights, run all 18 epochs without stopping
ref = QueueNetB()
ref.update(tree_unflatten(list(tree_flatten(model.parameters()))))
opt_ref = stage2_opt()
run_epochs(ref, opt_ref, XB_m, yB_m, epochs=18, bs=32, order=np.random.default_rng(11))

# the real run stops after 9 epochs, writes everything to disk, and a fresh process-like
# rebuild picks up from the files
order2 = np.random.default_rng(11)
opt2 = stage2_opt()
run_epochs(model, opt2, XB_m, yB_m, epochs=9, bs=32, order=order2)
print(f"stage 2 paused at optimizer step {opt2.state['step'].item()}: val mse {mse(model, XBv_m, yBv_m).item():.4f}")
model.save_weights(os.path.join(ckpt_dir, "resortB_mid.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "resortB_mid_opt.safetensors"), dict(tree_flatten(opt2.state)))
order_state = order2.bit_generator.state
del model, opt2

model = QueueNetB()
model.load_weights(os.path.join(ckpt_dir, "resortB_mid.safetensors"))
opt2 = stage2_opt()
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "resortB_mid_opt.safetensors")).items()))
order2 = np.random.default_rng()
order2.bit_generator.state = order_state
print(f"stage 2 resumed at optimizer step {opt2.state['step'].item()}, lr {opt2.learning_rate.item():.2e}")
run_epochs(model, opt2, XB_m, yB_m, epochs=9, bs=32, order=order2)
v2 = mse(model, XBv_m, yBv_m).item()
gap = max(mx.max(mx.abs(a - b)).item() for (_, a), (_, b) in zip(tree_flatten(model.parameters()), tree_flatten(ref.parameters())))
print(f"stage 2 end: val mse {v2:.4f}  (uninterrupted copy {mse(ref, XBv_m, yBv_m).item():.4f}, max weight gap {gap:.1e})")

# ---------------- baseline: resort B alone, random init ----------------
scratch = QueueNetB()
mx.eval(scratch.parameters())
opt_s = optim.Adam(learning_rate=3e-3)
run_epochs(scratch, opt_s, XB_m, yB_m, epochs=43, bs=32, log_every=None)
vs = mse(scratch, XBv_m, yBv_m).item()

print("---- resort B validation (standardised MSE) ----")
print(f"mean predictor        {mean_baseline:.4f}")
print(f"scratch on B only     {vs:.4f}")
print(f"transfer, head only   {v1:.4f}")
print(f"transfer, full tune   {v2:.4f}")
print(f"noise floor           {floorB:.4f}")
print(f"minutes RMSE: scratch {np.sqrt(vs) * sdB:.2f}  transfer {np.sqrt(v2) * sdB:.2f}")
print(f"done in {time.time() - t0:.1f}s")
