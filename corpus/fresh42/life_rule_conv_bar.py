"""Learn one step of Conway's Game of Life on a 16x16 torus with a small conv
net (3x3 conv on a wrap-padded board, then two 1x1 convs), binary
cross-entropy with logits, SGD with Nesterov momentum and a cosine schedule.
Fresh random boards every step.  Progress is a text bar per report; the end
shows held-out cell accuracy, the fraction of boards predicted exactly, and a
glider advanced four steps by the network next to the true rule."""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

H = W = 16
STEPS, BS = 900, 32
rng = np.random.default_rng(3)


def life_step(b):
    n = sum(np.roll(np.roll(b, i, -2), j, -1) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0))
    return ((n == 3) | ((b == 1) & (n == 2))).astype(np.float32)


def boards(n):
    dens = rng.uniform(0.15, 0.6, size=(n, 1, 1))
    b = (rng.random((n, H, W)) < dens).astype(np.float32)
    return b, life_step(b)


def wrap(x):
    x = mx.concatenate([x[:, -1:], x, x[:, :1]], axis=1)
    return mx.concatenate([x[:, :, -1:], x, x[:, :, :1]], axis=2)


class LifeNet(nn.Module):
    def __init__(self, ch=24):
        super().__init__()
        self.neigh = nn.Conv2d(1, ch, 3)
        self.mix = nn.Conv2d(ch, ch, 1)
        self.out = nn.Conv2d(ch, 1, 1)

    def __call__(self, b):
        x = wrap(b[..., None])
        x = nn.relu(self.neigh(x))
        x = nn.relu(self.mix(x))
        return self.out(x)[..., 0]


def loss_fn(model, b, nxt):
    return nn.losses.binary_cross_entropy(model(b), nxt, with_logits=True, reduction="mean")


def bar(frac, width=28):
    k = int(round(frac * width))
    return "[" + "#" * k + "." * (width - k) + "]"


def main():
    mx.random.seed(3)
    model = LifeNet()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(0.1, STEPS, end=0.005)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)

    b0, n0 = boards(BS)
    _, g0 = vg(model, mx.array(b0), mx.array(n0))
    dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
    print(f"first-step gradient check: {len(tree_flatten(g0))} leaves, zero-grad leaves: {dead or 'none'}")

    vb, vn = boards(256)
    vb_mx, vn_mx = mx.array(vb), mx.array(vn)
    t0 = time.time()
    ema = None
    for step in range(1, STEPS + 1):
        b, n = boards(BS)
        loss, g = vg(model, mx.array(b), mx.array(n))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 90 == 0:
            pred = (model(vb_mx) > 0).astype(mx.float32)
            acc = mx.mean(pred == vn_mx).item()
            print(f"{bar(step / STEPS)} {step:4d}/{STEPS} bce(ema)={ema:.4f} val_cell_acc={acc:.4f} "
                  f"lr={opt.learning_rate.item():.4f} {time.time() - t0:5.1f}s", flush=True)

    pred = np.array((model(vb_mx) > 0).astype(mx.float32))
    cell = (pred == vn).mean()
    exact = (pred == vn).all(axis=(1, 2)).mean()
    print(f"held-out: cell accuracy {cell:.4f}, boards exactly right {exact:.3f} (256 boards)")

    g = np.zeros((1, H, W), np.float32)
    for r, c in [(1, 2), (2, 3), (3, 1), (3, 2), (3, 3)]:
        g[0, r, c] = 1
    net, true = g.copy(), g.copy()
    for _ in range(4):
        net = np.array((model(mx.array(net)) > 0).astype(mx.float32))
        true = life_step(true)
    print("glider after 4 steps   net | rule")
    for r in range(7):
        row_n = "".join("#" if v else "." for v in net[0, r, :7])
        row_t = "".join("#" if v else "." for v in true[0, r, :7])
        print(f"                    {row_n} | {row_t}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
