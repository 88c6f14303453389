# bf16 training of a small regressor with per-epoch resumable checkpoints (weights + optimizer state)
import logging
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

mx.random.seed(5)
N, D = 4096, 16
X = mx.random.normal((N, D))
w_true = 0.3 * mx.random.normal((D, 1))
Y = mx.sin(X @ w_true) + 0.05 * mx.random.normal((N, 1))

model = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
model.set_dtype(mx.bfloat16)
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
ckpt_dir = tempfile.mkdtemp(prefix="ckpt_")


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x.astype(mx.bfloat16)).astype(mx.float32), y)


def save_checkpoint(epoch):
    path = os.path.join(ckpt_dir, f"epoch_{epoch:03d}")
    os.makedirs(path, exist_ok=True)
    model.save_weights(os.path.join(path, "model.safetensors"))
    opt_arrays = {}
    for name, val in tree_flatten(opt.state):
        if isinstance(val, mx.array):
            opt_arrays[name] = np.array(val.astype(mx.float32) if val.dtype == mx.bfloat16 else val)
    np.savez(os.path.join(path, "optimizer.npz"), **opt_arrays)
    log.info("saved checkpoint %s (%d optimizer arrays)", path, len(opt_arrays))


step = nn.value_and_grad(model, loss_fn)
B = 64
for epoch in range(1, 7):
    perm = mx.random.permutation(N)
    total = 0.0
    for i in range(0, N, B):
        idx = perm[i:i + B]
        loss, grads = step(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item()
    log.info("epoch %d train_mse %.5f", epoch, total / (N // B))
    save_checkpoint(epoch)
log.info("done")
