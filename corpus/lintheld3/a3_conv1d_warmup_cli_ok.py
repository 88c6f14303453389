"""1-D conv net telling sine waves from square waves, with a warmup + cosine
learning-rate schedule configured from the command line."""
import argparse
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--warmup-steps", type=int, default=0, help="0 disables warmup")
    p.add_argument("--batch-size", type=int, default=32)
    return p.parse_args(argv)


def build_schedule(args):
    def lr_at(step):
        warm = mx.minimum(1.0, step / max(1, args.warmup_steps))
        progress = mx.minimum(1.0, step / args.iters)
        return args.lr * warm * 0.5 * (1.0 + mx.cos(math.pi * progress))
    return lr_at


class WaveNetLite(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(8, 8, kernel_size=5, padding=2)
        self.out = nn.Linear(8, 2)

    def __call__(self, x):                       # x: (B, L, 1)
        h = nn.relu(self.c2(nn.relu(self.c1(x))))
        return self.out(h.mean(axis=1))


def wave_batch(bs, length=64):
    freq = mx.random.uniform(1.0, 4.0, (bs, 1))
    phase = mx.random.uniform(0, 2 * math.pi, (bs, 1))
    t = mx.linspace(0, 2 * math.pi, length)[None, :]
    s = mx.sin(freq * t + phase)
    label = mx.random.randint(0, 2, (bs,))
    sig = mx.where(label[:, None] == 1, mx.sign(s), s) + 0.1 * mx.random.normal((bs, length))
    return sig[..., None], label


def main(argv=None):
    args = parse_args(argv)
    mx.random.seed(5)
    net = WaveNetLite()
    opt = optim.AdamW(learning_rate=build_schedule(args), weight_decay=1e-4)
    vg = nn.value_and_grad(net, lambda x, y: nn.losses.cross_entropy(net(x), y, reduction="mean"))
    for it in range(args.iters):
        x, y = wave_batch(args.batch_size)
        loss, g = vg(x, y)
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        if it % 40 == 0 or it == args.iters - 1:
            xe, ye = wave_batch(256)
            acc = mx.mean(mx.argmax(net(xe), axis=1) == ye).item()
            print(f"it {it:3d} lr {opt.learning_rate.item():.2e} loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()
