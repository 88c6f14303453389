"""Spinning mill: yarn twist-per-metre error from 8 frame readings.

An MLP fitted on the ring frames of the old mill is kept frozen; the new
open-end frames are fitted with LoHa adapters (Hadamard product of two
low-rank factor pairs, as in LyCORIS) on both hidden projections.
Log lines are NMEA-style sentences with an XOR checksum.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
NOISE = 0.10  # std of the gauge reading, floor of the val mse is NOISE**2
mx.random.seed(SEED)
rng = np.random.default_rng(SEED)


def sentence(tag, *fields):
    body = "PYRN," + tag + "," + ",".join(str(f) for f in fields)
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    print(f"${body}*{cs:02X}", flush=True)


# ---------------------------------------------------------------- data
def make_frames(n, law):
    x = rng.normal(size=(n, 8)).astype(np.float32)
    spindle, humid, fibre, tension, speed, draft, age, temp = x.T
    y = 0.8 * np.tanh(spindle + 0.5 * draft) + 0.4 * fibre * tension - 0.3 * humid ** 2 + 0.2 * speed
    if law == "open_end":
        y = y + 0.6 * np.sin(1.5 * draft - tension) + 0.35 * age * temp - 0.25 * spindle
    y = y + NOISE * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])


old_x, old_y = make_frames(6000, "ring")
new_x, new_y = make_frames(1200, "open_end")
val_x, val_y = make_frames(1000, "open_end")


# ---------------------------------------------------------------- model
class TwistNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x)))))


class LoHaLinear(nn.Module):
    """y = base(x) + x @ (scale * (w1a @ w1b) * (w2a @ w2b)).T"""

    def __init__(self, base: nn.Linear, rank=4, alpha=4.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.w1a = mx.random.normal((out_d, rank)) * 0.1
        self.w1b = mx.random.normal((rank, in_d))
        self.w2a = mx.zeros((out_d, rank))
        self.w2b = mx.random.normal((rank, in_d))

    def delta(self):
        return self.scale * (self.w1a @ self.w1b) * (self.w2a @ self.w2b)

    def __call__(self, x):
        return self.base(x) + x @ self.delta().T


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


# ---------------------------------------------------------------- stage 1: ring frames, quiet
base = TwistNet()
opt0 = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 800, 1e-4))
vg0 = nn.value_and_grad(base, mse)
t0 = time.time()
for step in range(800):
    idx = mx.array(rng.integers(0, old_x.shape[0], 128))
    loss, g = vg0(base, old_x[idx], old_y[idx])
    opt0.update(base, g)
    mx.eval(base.parameters(), opt0.state, loss)
sentence("BASE", "ring", 800, f"{mse(base, old_x, old_y).item():.4f}", f"{time.time() - t0:.1f}s")

workdir = tempfile.mkdtemp()
base_file = os.path.join(workdir, "ring_base.safetensors")
base.save_weights(base_file)
base_val = mse(base, val_x, val_y).item()
sentence("REF", "frozen_base_val", f"{base_val:.4f}", "noise_floor", f"{NOISE ** 2:.4f}",
         "predict_mean", f"{mx.var(val_y).item():.4f}")


def build():
    m = TwistNet()
    m.load_weights(base_file)
    m.freeze()
    m.l1 = LoHaLinear(m.l1)
    m.l2 = LoHaLinear(m.l2)
    return m


TOTAL, WARM, STOP_AT = 600, 30, 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, WARM), optim.cosine_decay(4e-3, TOTAL - WARM, 2e-4)], [WARM])


def run(model, opt, start, stop):
    vg = nn.value_and_grad(model, mse)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, new_x.shape[0], 64))
        loss, g = vg(model, new_x[idx], new_y[idx])
        if step == 0:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
            sentence("GRAD", len(flat), "leaves", len(zero), "exactly_zero", "|".join(zero))
        lr = opt.learning_rate.item()
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0 or (step + 1) % 50 == 0:
            v = mse(model, val_x, val_y).item()
            sentence("TRN", step + 1, f"{lr:.2e}", f"{loss.item():.4f}", f"{v:.4f}",
                     f"{v - base_val:+.4f}")


# ---------------------------------------------------------------- stage 2, first sitting
model = build()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
sentence("CFG", "loha", "rank", 4, "trainable", n_train, "of", n_all)
opt = optim.Adam(learning_rate=sched)
run(model, opt, 0, STOP_AT)

ad_file = os.path.join(workdir, "loha_adapters.safetensors")
st_file = os.path.join(workdir, "loha_optimizer.safetensors")
mx.save_safetensors(ad_file, dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(st_file, dict(tree_flatten(opt.state)))
before = mse(model, val_x, val_y).item()
del model, opt
sentence("CKPT", STOP_AT, "saved", f"{before:.4f}")

# ---------------------------------------------------------------- second sitting
model = build()
model.load_weights(ad_file, strict=False)
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(st_file).items()))
after = mse(model, val_x, val_y).item()
sentence("RESUME", opt.step.item(), f"{after:.4f}", f"{abs(after - before):.1e}")
run(model, opt, STOP_AT, TOTAL)

# ---------------------------------------------------------------- audit: fold and drift
ref = TwistNet()
ref.load_weights(base_file)
drift = max(mx.abs(getattr(model, n).base.weight - getattr(ref, n).weight).max().item() for n in ("l1", "l2"))
folded = TwistNet()
folded.load_weights(base_file)
for n in ("l1", "l2"):
    getattr(folded, n).weight = getattr(ref, n).weight + getattr(model, n).delta()
mx.eval(folded.parameters())
gap = mx.abs(folded(val_x) - model(val_x)).max().item()
final = mse(model, val_x, val_y).item()
sentence("END", f"{final:.4f}", "floor", f"{NOISE ** 2:.4f}", "base", f"{base_val:.4f}",
         "fold_gap", f"{gap:.1e}", "base_drift", f"{drift:.1e}")
