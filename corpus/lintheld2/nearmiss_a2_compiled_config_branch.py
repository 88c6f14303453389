"""MNIST-sized synthetic digits stand-in: compiled train step whose branches read the run config."""
import argparse
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass(frozen=True)
class Hyper:
    smoothing: float = 0.1
    clip: float = 1.0
    steps: int = 240


CFG = Hyper()   # replaced once from the command line, before anything is compiled


def synthetic_digits(n, key):
    k1, k2 = mx.random.split(key)
    protos = mx.random.normal((10, 64), key=mx.random.key(42))
    lab = mx.random.randint(0, 10, (n,), key=k1)
    return protos[lab] + 1.2 * mx.random.normal((n, 64), key=k2), lab


mx.random.seed(0)
net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
state = [net.state, opt.state]


def xent(model, x, y):
    if CFG.smoothing > 0:
        return nn.losses.cross_entropy(model(x), y, label_smoothing=CFG.smoothing, reduction="mean")
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(net, xent)


def step_impl(x, y):
    loss, grads = vg(net, x, y)
    if CFG.clip is not None:
        grads, _ = optim.clip_grad_norm(grads, CFG.clip)
    opt.update(net, grads)
    return loss


def main():
    global CFG
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoothing", type=float, default=Hyper.smoothing)
    ap.add_argument("--clip", type=float, default=Hyper.clip)
    args = ap.parse_args()
    CFG = Hyper(smoothing=args.smoothing, clip=args.clip)
    step = mx.compile(step_impl, inputs=state, outputs=state)

    x, y = synthetic_digits(4800, mx.random.key(0))
    xt, yt = synthetic_digits(1000, mx.random.key(1))
    for i in range(CFG.steps):
        s = (i * 80) % 4800
        loss = step(x[s : s + 80], y[s : s + 80])
        mx.eval(state)
        if i % 60 == 0 or i == CFG.steps - 1:
            acc = (mx.argmax(net(xt), axis=1) == yt).astype(mx.float32).mean().item()
            print(f"step {i:3d} loss {loss.item():.4f} test acc {acc:.3f}")


if __name__ == "__main__":
    main()
