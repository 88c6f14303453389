"""Cooperage toasting log: predict char depth (mm) on the inside of a barrel stave.

Residual MLP whose blocks are recomputed in the backward pass (nn.utils.checkpoint),
an effective batch of 256 rows built from 4 micro-batches of 64, AdamW with a linear
warmup that starts at exactly 0, cosine decay, and a save / reload of model and
optimizer state half-way through the run.
"""
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

mx.random.seed(11)

N_TRAIN, N_VAL = 6144, 1024
NOISE_MM = 0.12  # shop-floor gauge noise


def make_log(n):
    k = mx.random.split(mx.random.key(n), 7)
    flame_c = 180 + 60 * mx.random.uniform(key=k[0], shape=(n,))
    minutes = 15 + 35 * mx.random.uniform(key=k[1], shape=(n,))
    moisture = 12 + 8 * mx.random.uniform(key=k[2], shape=(n,))
    oak_density = 0.6 + 0.2 * mx.random.uniform(key=k[3], shape=(n,))
    stave_mm = 22 + 6 * mx.random.uniform(key=k[4], shape=(n,))
    water_mist = (mx.random.uniform(key=k[5], shape=(n,)) < 0.3).astype(mx.float32)
    depth = (
        0.9 * mx.log1p(minutes / 10) * mx.exp((flame_c - 200) / 70)
        - 0.035 * (moisture - 14)
        - 0.8 * (oak_density - 0.7)
        + 0.01 * (stave_mm - 25)
        - 0.25 * water_mist
    )
    depth = depth + NOISE_MM * mx.random.normal(key=k[6], shape=(n,))
    x = mx.stack([flame_c, minutes, moisture, oak_density, stave_mm, water_mist], axis=1)
    return x, depth[:, None]


xtr, ytr = make_log(N_TRAIN)
xva, yva = make_log(N_VAL)
mu, sd = xtr.mean(axis=0), xtr.std(axis=0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ymu = ytr.mean()


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))


class CharNet(nn.Module):
    def __init__(self, d_in=6, d=48, depth=4):
        super().__init__()
        self.stem = nn.Linear(d_in, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = nn.utils.checkpoint(blk)(h)
        return self.head(h) + ymu


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


STEPS, WARM, PEAK_LR = 150, 25, 3e-3
MICRO, N_MICRO = 64, 4


def lr_at(step):
    if step < WARM:
        return PEAK_LR * step / WARM  # step 0 -> lr 0.0
    p = (step - WARM) / (STEPS - WARM)
    return 0.5 * PEAK_LR * (1 + math.cos(math.pi * p))


def build():
    model = CharNet()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    return model, opt


model, opt = build()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)

base_mse = nn.losses.mse_loss(mx.broadcast_to(ymu, yva.shape), yva).item()
print(f"rows train={N_TRAIN} val={N_VAL}  params={sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"baseline (predict mean) val mse={base_mse:.4f}   gauge noise floor mse={NOISE_MM**2:.4f}")

order = mx.random.permutation(N_TRAIN)
cursor = 0


def next_rows(n):
    global cursor, order
    if cursor + n > N_TRAIN:
        order = mx.random.permutation(N_TRAIN)
        cursor = 0
    idx = order[cursor:cursor + n]
    cursor += n
    return xtr[idx], ytr[idx]


def train_step(step):
    opt.learning_rate = lr_at(step)
    acc, tot = None, mx.array(0.0)
    for _ in range(N_MICRO):
        xb, yb = next_rows(MICRO)
        loss, g = vg(model, xb, yb)
        acc = g if acc is None else tree_map(mx.add, acc, g)
        tot = tot + loss
        mx.eval(acc, tot)
    acc = tree_map(lambda a: a / N_MICRO, acc)
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state)
    return tot.item() / N_MICRO, acc


def val_mse():
    return nn.losses.mse_loss(model(xva), yva).item()


t0 = time.time()
step = 0
first_w = model.head.weight
loss0, g0 = train_step(step)
nz = sum(1 for _, v in tree_flatten(g0) if mx.abs(v).max().item() > 0)
print(f"step 0  lr={lr_at(0):.3e}  loss={loss0:.4f}  leaves with gradient {nz}/{len(tree_flatten(g0))}"
      f"  head moved={bool(mx.any(first_w != model.head.weight).item())}")
step = 1

ckpt_dir = tempfile.mkdtemp()
RESUME_AT = 75
while step < STEPS:
    loss, _ = train_step(step)
    if step % 25 == 0:
        print(f"step {step:3d}  lr={lr_at(step):.3e}  train mse={loss:.4f}  val mse={val_mse():.4f}")
    step += 1
    if step == RESUME_AT:
        before = val_mse()
        model.save_weights(os.path.join(ckpt_dir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        vg = nn.value_and_grad(model, loss_fn)
        print(f"-- reloaded at step {step}: val mse before={before:.4f} after={val_mse():.4f}"
              f"  optimizer step count={int(opt.state['step'].item())}")

final = val_mse()
mae = mx.abs(model(xva) - yva).mean().item()
print(f"final val mse={final:.4f} (noise floor {NOISE_MM**2:.4f}, baseline {base_mse:.4f})  val mae={mae:.3f} mm")
print(f"peak memory {mx.get_peak_memory() / 2**20:.1f} MB   wall {time.time() - t0:.1f}s")
shutil.rmtree(ckpt_dir)
