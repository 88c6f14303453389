"""Denoising autoencoder fine-tune; loss plots and checkpoints only every `plot_every` steps."""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

CONFIG = {"steps": 500, "batch": 128, "plot_every": 1000, "lr": 1e-3}
rng = np.random.default_rng(8)
clean = np.tanh(rng.normal(size=(10000, 256)) @ rng.normal(size=(256, 256)) / 16)
clean = clean.astype(np.float32)

model = nn.Sequential(nn.Linear(256, 64), nn.GELU(), nn.Linear(64, 256))
optimizer = optim.Adam(learning_rate=CONFIG["lr"])
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
t0 = time.time()
for step in range(1, CONFIG["steps"] + 1):
    idx = rng.integers(0, len(clean), CONFIG["batch"])
    target = clean[idx]
    noisy = target + rng.normal(scale=0.3, size=target.shape).astype(np.float32)
    loss, grads = loss_and_grad(model, mx.array(noisy), mx.array(target))
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    if step % CONFIG["plot_every"] == 0:
        print(f"step {step}: loss {loss.item():.5f}")
    if step % 100 == 0:
        print(f"progress {step}/{CONFIG['steps']} ({time.time() - t0:.1f}s)", flush=True)

print("saving final checkpoint ...", flush=True)
with tempfile.TemporaryDirectory(prefix="dae_ckpt_") as out_dir:
    path = os.path.join(out_dir, "final.safetensors")
    mx.save_safetensors(path, dict(nn.utils.tree_flatten(model.parameters())))
    print(f"saved {path}; final loss {loss.item():.5f} ({time.time() - t0:.1f}s)")
