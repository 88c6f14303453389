"""Tuning-fork workshop: clean up bench recordings of struck forks.

Each recording is 128 samples of a decaying fundamental plus a short-lived
clang overtone, recorded with hiss.  A small Conv1d + GroupNorm network learns
to remove the hiss.  The run is split in two sessions: the first session writes
a checkpoint (weights + optimizer state), a fresh process-like rebuild loads it
and carries on.
"""

import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

LENGTH = 128
HISS = 0.15
BATCH = 16
TOTAL_STEPS = 300
WARMUP = 30
SESSION_SPLIT = 150

rng = np.random.default_rng(11)


def fork_recordings(n, rng):
    t = np.arange(LENGTH, dtype=np.float32) / LENGTH
    f0 = rng.uniform(3.0, 9.0, size=(n, 1))
    decay = rng.uniform(1.0, 4.0, size=(n, 1))
    strike = rng.uniform(0.5, 1.2, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    fundamental = strike * np.exp(-decay * t) * np.sin(2 * np.pi * f0 * t + phase)
    clang = 0.4 * strike * np.exp(-25.0 * t) * np.sin(2 * np.pi * 6.25 * f0 * t)
    clean = (fundamental + clang).astype(np.float32)
    noisy = clean + HISS * rng.standard_normal(clean.shape).astype(np.float32)
    return noisy[..., None], clean[..., None]


class ForkCleaner(nn.Module):
    def __init__(self, width=16, groups=4):
        super().__init__()
        self.inp = nn.Conv1d(1, width, kernel_size=7, padding=3)
        self.gn1 = nn.GroupNorm(groups, width, pytorch_compatible=True)
        self.mid = nn.Conv1d(width, width, kernel_size=7, padding=3)
        self.gn2 = nn.GroupNorm(groups, width, pytorch_compatible=True)
        self.out = nn.Conv1d(width, 1, kernel_size=7, padding=3)

    def __call__(self, x):
        h = nn.silu(self.gn1(self.inp(x)))
        h = nn.silu(self.gn2(self.mid(h)))
        return x - self.out(h)


def make_schedule():
    warm = optim.linear_schedule(0.0, 2e-3, steps=WARMUP)
    cos = optim.cosine_decay(2e-3, TOTAL_STEPS - WARMUP, end=2e-5)
    return optim.join_schedules([warm, cos], [WARMUP])


def build():
    model = ForkCleaner()
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    return model, opt


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


val_x, val_y = fork_recordings(256, np.random.default_rng(999))
val_x, val_y = mx.array(val_x), mx.array(val_y)
passthrough = mx.mean((val_x - val_y) ** 2).item()
silence = mx.mean(val_y ** 2).item()


def run_session(model, opt, start, stop, log_every):
    loss_and_grad = nn.value_and_grad(model, mse)
    t0 = time.time()
    for step in range(start, stop):
        xb, yb = fork_recordings(BATCH, rng)
        loss, grads = loss_and_grad(model, mx.array(xb), mx.array(yb))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == start or (step + 1) % log_every == 0 or step + 1 == stop:
            held = mse(model, val_x, val_y).item()
            lr_used = float(opt.learning_rate.item())
            print(
                f"[bench] step {step + 1:04d} | lr {lr_used:.3e} | batch mse {loss.item():.5f}"
                f" | held-out mse {held:.5f} | passthrough {passthrough:.5f}"
                f" | silence {silence:.5f} | {time.time() - t0:5.1f}s"
            )


mx.random.seed(3)
print(f"recordings: {LENGTH} samples, hiss sigma {HISS}, batch {BATCH}")
print(f"reference: passthrough mse {passthrough:.5f}  silence mse {silence:.5f}")

model, opt = build()
print("session A: warmup from lr 0, then cosine")
run_session(model, opt, 0, SESSION_SPLIT, log_every=25)

ckpt_dir = tempfile.mkdtemp()
w_path = os.path.join(ckpt_dir, "weights.safetensors")
s_path = os.path.join(ckpt_dir, "opt_state.safetensors")
model.save_weights(w_path)
mx.save_safetensors(s_path, dict(tree_flatten(opt.state)))
before = mse(model, val_x, val_y).item()
print(f"checkpoint written to {ckpt_dir} (held-out mse {before:.5f})")
del model, opt

model, opt = build()
model.load_weights(w_path)
opt.state = tree_unflatten(list(mx.load(s_path).items()))
after = mse(model, val_x, val_y).item()
print(f"session B: resumed at optimizer step {int(opt.state['step'].item())}, held-out mse {after:.5f}")
# long quiet stretch: only a few lines until the end of the cosine tail
run_session(model, opt, SESSION_SPLIT, TOTAL_STEPS, log_every=50)

final = mse(model, val_x, val_y).item()
print(
    f"final held-out mse {final:.5f}  ({passthrough / final:.1f}x below passthrough,"
    f" {silence / final:.0f}x below silence)"
)
shutil.rmtree(ckpt_dir, ignore_errors=True)
