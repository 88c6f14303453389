"""Binary sentiment-style classifier over bag-of-token features; argparse config where
max_grad_norm 0 means 'no clipping' (the convention of the trainer this was ported from)."""
import argparse
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=3e-4)
p.add_argument("--steps", type=int, default=300)
p.add_argument("--max-grad-norm", type=float, default=0.0)  # 0 = disabled
args = p.parse_args()

mx.random.seed(4)
V = 300
w_true = mx.random.normal((V,))
model = nn.Sequential(nn.Linear(V, 32), nn.Tanh(), nn.Linear(32, 1))
opt = optim.Lion(learning_rate=args.lr)


def bce(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, reduction="mean")


vg = nn.value_and_grad(model, bce)


def bar(i, n, loss, width=24):
    done = int(width * i / n)
    sys.stdout.write(f"\rtrain {100 * i // n:3d}%|{'#' * done}{' ' * (width - done)}| "
                     f"{i}/{n} [loss={loss:.4f}]")
    if i % 50 == 0:
        sys.stdout.write("\n")
    sys.stdout.flush()


for i in range(1, args.steps + 1):
    x = (mx.random.uniform(shape=(128, V)) < 0.05).astype(mx.float32)
    y = (x @ w_true > 0).astype(mx.float32)
    loss, grads = vg(model, x, y)
    if args.max_grad_norm > 0:
        grads, norm = optim.clip_grad_norm(grads, max_norm=args.max_grad_norm)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if i % 10 == 0:
        bar(i, args.steps, loss.item())
print()
