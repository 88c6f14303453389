"""Hive acoustics: 3-way colony state (settled / queenless / swarm-prep) from 12
synthetic hum band energies.

Stage 1: first-order pretraining on recordings from the home apiary (AdamW,
linear warmup that starts at exactly lr=0).
Stage 2: forward-only fine-tuning (MeZO / two-point SPSA) on a small set from an
out-yard whose microphones have a different gain curve. No backward pass in
stage 2: each step perturbs the weights in place with a seed-regenerated
Gaussian direction z, evaluates L(w + eps z) and L(w - eps z), restores w, and
moves along z by the projected slope. The z tensors are never stored.
Stage 2 is checkpointed halfway, reloaded into a fresh model, and continued.
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

t0 = time.time()
rng = np.random.default_rng(354)
N_BANDS, N_CLASS = 12, 3
proto = rng.normal(0.0, 1.0, size=(N_CLASS, N_BANDS)).astype(np.float32)


def recordings(n, gain_tilt, offset):
    y = rng.integers(0, N_CLASS, size=n)
    x = proto[y] + rng.normal(0.0, 0.9, size=(n, N_BANDS))
    # microphone: band-dependent gain and a constant offset
    x = x * (1.0 + gain_tilt * np.linspace(-1, 1, N_BANDS)) + offset
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


home_x, home_y = recordings(4000, 0.0, 0.0)
yard_x, yard_y = recordings(384, 0.55, 0.6)
yard_val_x, yard_val_y = recordings(1500, 0.55, 0.6)


class HumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BANDS, 32)
        self.l2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, N_CLASS)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


mx.random.seed(0)
model = HumNet()
mx.eval(model.parameters())

majority = max(np.bincount(np.array(yard_val_y), minlength=N_CLASS)) / yard_val_y.shape[0]
print(f"baseline majority-class acc on out-yard: {majority:.3f}")

# ---------------- stage 1: first-order pretraining ----------------
warm, steps1, peak = 150, 900, 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps1 - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)
for step in range(steps1):
    idx = mx.array(rng.integers(0, home_x.shape[0], size=128))
    lr_now = opt.learning_rate.item()
    loss, g = vg(model, home_x[idx], home_y[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    if step % 150 == 0 or step == steps1 - 1:
        print(f"[pretrain] step {step:4d} lr {lr_now:.3e} loss {loss.item():.4f}")

print(f"[pretrain] home acc {accuracy(model, home_x, home_y):.3f}")
zero_shot = accuracy(model, yard_val_x, yard_val_y)
print(f"[pretrain] out-yard acc before fine-tune: {zero_shot:.3f}  "
      f"val loss {loss_fn(model, yard_val_x, yard_val_y).item():.4f}")

# ---------------- stage 2: MeZO fine-tuning (forward passes only) ----------------
EPS = 1e-3


def perturb(model, seed, scale):
    flat = tree_flatten(model.trainable_parameters())
    keys = mx.random.split(mx.random.key(seed), len(flat))
    new = [(k, p + scale * mx.random.normal(p.shape, key=keys[i])) for i, (k, p) in enumerate(flat)]
    model.update(tree_unflatten(new))


def mezo_step(model, x, y, seed, lr):
    perturb(model, seed, EPS)
    l_plus = loss_fn(model, x, y)
    mx.eval(l_plus, model.parameters())
    perturb(model, seed, -2 * EPS)
    l_minus = loss_fn(model, x, y)
    mx.eval(l_minus, model.parameters())
    perturb(model, seed, EPS)  # back to w
    proj = (l_plus - l_minus) / (2 * EPS)
    perturb(model, seed, -lr * proj)  # w <- w - lr * proj * z, same z
    mx.eval(model.parameters())
    return ((l_plus + l_minus) / 2).item(), proj.item()


def lr_at(step):
    warm2, lr2 = 200, 2e-3
    return lr2 * step / warm2 if step < warm2 else lr2


steps2, half = 3000, 1500
seed_rng = np.random.default_rng(11)
seeds = seed_rng.integers(0, 2**31 - 1, size=steps2)
batch_idx = seed_rng.integers(0, yard_x.shape[0], size=(steps2, 128))


def run_stage2(model, start, stop):
    running = []
    for step in range(start, stop):
        idx = mx.array(batch_idx[step])
        l, proj = mezo_step(model, yard_x[idx], yard_y[idx], int(seeds[step]), lr_at(step))
        running.append(l)
        if step % 500 == 0 or step == steps2 - 1:
            vl = loss_fn(model, yard_val_x, yard_val_y).item()
            print(f"[mezo] step {step:4d} lr {lr_at(step):.2e} batch loss(mean of +/-) {np.mean(running):.4f} "
                  f"proj {proj:+.3f} val loss {vl:.4f} val acc {accuracy(model, yard_val_x, yard_val_y):.3f}")
            running = []


run_stage2(model, 0, half)

ckpt_dir = tempfile.mkdtemp()
ckpt = os.path.join(ckpt_dir, "mezo_half.safetensors")
model.save_weights(ckpt)
before = loss_fn(model, yard_val_x, yard_val_y).item()
print(f"[ckpt] saved step {half} to {os.path.basename(ckpt)} val loss {before:.4f}")

model = HumNet()
model.load_weights(ckpt)
mx.eval(model.parameters())
after = loss_fn(model, yard_val_x, yard_val_y).item()
print(f"[ckpt] reloaded into fresh model val loss {after:.4f} (diff {abs(after - before):.2e})")

run_stage2(model, half, steps2)

final = accuracy(model, yard_val_x, yard_val_y)
print(f"[result] out-yard acc: majority {majority:.3f} | pretrained {zero_shot:.3f} | after MeZO {final:.3f}")
shutil.rmtree(ckpt_dir)
print(f"done in {time.time() - t0:.1f}s")
