"""Deep residual MLP with optional activation (gradient) checkpointing to save memory."""
import argparse
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ResBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.RMSNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def __call__(self, x):
        return x + nn.silu(self.fc(self.norm(x)))


class DeepNet(nn.Module):
    def __init__(self, d_in, dim, depth, grad_ckpt=False):
        super().__init__()
        self.stem = nn.Linear(d_in, dim)
        self.blocks = [ResBlock(dim) for _ in range(depth)]
        self.head = nn.Linear(dim, 1)
        self.grad_ckpt = grad_ckpt

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            if self.grad_ckpt:
                h = mx.checkpoint(blk)(h)
            else:
                h = blk(h)
        return self.head(h)


def make_step(net, opt):
    def objective(x, y):
        return nn.losses.huber_loss(net(x), y, reduction="mean")

    vg = nn.value_and_grad(net, objective)

    def step(x, y):
        val, grads = vg(x, y)
        opt.update(net, grads)
        return val, grads

    return step


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--no-ckpt", action="store_true")
    args = ap.parse_args()

    mx.random.seed(1)
    X = mx.random.uniform(-2, 2, (512, 6))
    Y = (mx.sin(2 * X[:, :1]) * mx.cos(X[:, 1:2]) + X[:, 2:3] * X[:, 3:4])
    net = DeepNet(6, args.dim, args.depth, grad_ckpt=not args.no_ckpt)
    opt = optim.Adam(learning_rate=2e-3)
    step = make_step(net, opt)
    fc0 = [mx.array(b.fc.weight) for b in net.blocks]
    t0 = time.time()
    for it in range(300):
        idx = mx.random.randint(0, 512, (64,))
        val, grads = step(X[idx], Y[idx])
        mx.eval(net.parameters(), opt.state)
        if it % 100 == 0 or it == 299:
            gnorm = sum(mx.abs(g["fc"]["weight"]).sum().item() for g in grads["blocks"])
            print(f"it {it:3d}  loss {val.item():.4f}  |grad| of block fc weights {gnorm:.4g}")
    full = nn.losses.huber_loss(net(X), Y, reduction="mean").item()
    moved = sum(mx.abs(b.fc.weight - w).max().item() > 0 for b, w in zip(net.blocks, fc0))
    print(f"full-data loss {full:.4f}; blocks whose weights moved: {moved}/{len(net.blocks)}"
          f"  ({time.time() - t0:.1f}s)")
