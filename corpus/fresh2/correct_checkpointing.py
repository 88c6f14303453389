"""Regression MLP trained for several epochs, saving a checkpoint (weights with
mx.save_safetensors, optimizer state with mx.savez, metadata as JSON) after every epoch and
reloading the best one at the end to report its validation error."""
import json
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(2)
X = mx.random.uniform(-2, 2, (3000, 3))
Y = (mx.sin(X[:, :1]) * X[:, 1:2] + 0.5 * X[:, 2:3] ** 2) + 0.05 * mx.random.normal((3000, 1))
Xtr, Ytr, Xva, Yva = X[:2500], Y[:2500], X[2500:], Y[2500:]

model = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
opt = optim.Adam(learning_rate=2e-3)
ckpt_dir = tempfile.mkdtemp(prefix="ckpt_")


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step = nn.value_and_grad(model, mse)
best = (float("inf"), None)
for epoch in range(1, 9):
    perm = mx.random.permutation(2500)
    for i in range(0, 2500, 50):
        idx = perm[i:i + 50]
        loss, g = step(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    val = mse(model, Xva, Yva).item()
    path = os.path.join(ckpt_dir, f"epoch_{epoch:02d}")
    mx.save_safetensors(path + ".safetensors", dict(tree_flatten(model.parameters())))
    mx.savez(path + "_opt.npz", **dict(tree_flatten(opt.state)))
    with open(path + ".json", "w") as fh:
        json.dump({"epoch": epoch, "val_mse": val}, fh)
    if val < best[0]:
        best = (val, path)
    print(f"[epoch {epoch}/8] val_mse={val:.4f} saved={os.path.basename(path)}", flush=True)

model.load_weights(best[1] + ".safetensors")
print(f"best checkpoint {os.path.basename(best[1])}: val_mse={mse(model, Xva, Yva).item():.4f}")
