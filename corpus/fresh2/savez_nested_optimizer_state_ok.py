"""Two-layer MLP on a noisy polynomial; saves a resumable checkpoint (weights + optimizer state)
every two epochs, the way the README of a training template suggests."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(21)
X = mx.random.uniform(-1, 1, (2048, 2))
Y = (X[:, :1] ** 2 - X[:, 1:] * 0.5 + 0.05 * mx.random.normal((2048, 1)))

model = nn.Sequential(nn.Linear(2, 48), nn.Tanh(), nn.Linear(48, 1))
optimizer = optim.AdamW(learning_rate=5e-3)
out_dir = tempfile.mkdtemp(prefix="run_")
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"model: {n_params} parameters, checkpoints in {out_dir}")


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def save_checkpoint(epoch):
    model.save_weights(os.path.join(out_dir, f"weights_{epoch}.safetensors"))
    state = dict(tree_flatten(optimizer.state))
    mx.savez(os.path.join(out_dir, f"optimizer_{epoch}.npz"), **state)


train_step = nn.value_and_grad(model, loss_fn)
for epoch in range(1, 11):
    for i in range(0, 2048, 64):
        loss, grads = train_step(model, X[i:i + 64], Y[i:i + 64])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    print(f"epoch={epoch:02d} train_mse={loss.item():.5f}", flush=True)
    if epoch % 2 == 0:
        save_checkpoint(epoch)
        print(f"  checkpoint saved to {out_dir}", flush=True)
