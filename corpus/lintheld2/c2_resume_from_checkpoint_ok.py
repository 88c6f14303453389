"""Two-stage run: pretrain a regressor, save a checkpoint, then resume in a fresh model
instance (as a separate job would) and keep training."""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


def build():
    return nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 2))


def dataset(n=512):
    x = mx.random.normal((n, 8))
    y = mx.stack([mx.sin(x[:, 0] + x[:, 1]), x[:, 2] * x[:, 3] - x[:, 4]], axis=1)
    return x, y


def fit(net, x, y, iters, lr):
    opt = optim.AdamW(learning_rate=lr)
    vg = nn.value_and_grad(net, lambda a, b: nn.losses.mse_loss(net(a), b))
    for _ in range(iters):
        idx = mx.random.randint(0, x.shape[0], (64,))
        loss, g = vg(x[idx], y[idx])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
    return net


def save_ckpt(net, path):
    flat = dict(tree_flatten(net.parameters()))
    mx.save_safetensors(path, flat)


def load_ckpt(net, path):
    state = mx.load(path)
    net.update(tree_unflatten(list(state.items())), strict=False)
    mx.eval(net.parameters())
    return net


def main():
    mx.random.seed(0)
    x, y = dataset()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "stage1.safetensors")
        net = fit(build(), x, y, iters=400, lr=3e-3)
        pre = nn.losses.mse_loss(net(x), y).item()
        save_ckpt(net, ckpt)
        print(f"stage 1 done, loss {pre:.4f}, saved {ckpt.split('/')[-1]}")

        resumed = load_ckpt(build(), ckpt)
        start = nn.losses.mse_loss(resumed(x), y).item()
        print(f"stage 2 starts from loss {start:.4f} (stage 1 ended at {pre:.4f})")
        fit(resumed, x, y, iters=50, lr=1e-3)
        print(f"stage 2 ends at loss {nn.losses.mse_loss(resumed(x), y).item():.4f}"
              f"  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
