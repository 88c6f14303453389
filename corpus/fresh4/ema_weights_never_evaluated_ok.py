"""Autoencoder with an EMA copy of the weights used for the final export (Polyak averaging)."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(13)
D = 128
model = nn.Sequential(nn.Linear(D, 256), nn.GELU(), nn.Linear(256, 64), nn.GELU(),
                      nn.Linear(64, 256), nn.GELU(), nn.Linear(256, D))
mx.eval(model.parameters())
ema = tree_map(lambda p: p, model.parameters())
DECAY = 0.995
opt = optim.Adam(learning_rate=1e-3)
basis = mx.random.normal((16, D))


def recon(m, x):
    return mx.mean((m(x) - x) ** 2)


vg = nn.value_and_grad(model, recon)
for step in range(1, 601):
    x = mx.random.normal((64, 16)) @ basis
    loss, g = vg(model, x)
    opt.update(model, g)
    ema = tree_map(lambda e, p: DECAY * e + (1 - DECAY) * p, ema, model.parameters())
    mx.eval(model.parameters(), opt.state, loss, ema)
    if step % 50 == 0:
        mem = mx.get_active_memory() / 2**20
        print(f"step {step:5d}  recon {loss.item():.4f}  active_mem {mem:7.1f} MB")

with tempfile.TemporaryDirectory() as out_dir:
    path = os.path.join(out_dir, "ema.safetensors")
    mx.save_safetensors(path, dict(tree_flatten(ema)))
    print("saved EMA weights,", os.path.getsize(path), "bytes")
