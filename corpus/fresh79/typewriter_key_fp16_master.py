"""Which typebar struck? 8-way classification of a typewriter key from a 24-sample acoustic
envelope. float16 compute, float32 master weights, static loss scaling, hand-written
Nesterov momentum on the masters. Progress bar redrawn with \r, one summary line per epoch."""
import sys, time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

K, T = 8, 24
rng = np.random.default_rng(3)
t = np.linspace(0, 1, T)
proto = np.stack([np.exp(-((t - 0.15 - 0.04 * k) / 0.06) ** 2) * (1 + 0.3 * np.sin(2 * np.pi * (2 + k) * t))
                  for k in range(K)])


def sample(n):
    y = rng.integers(0, K, n)
    shift = rng.integers(-1, 2, n)
    x = np.stack([np.roll(proto[c], s) for c, s in zip(y, shift)])
    x = x * rng.uniform(0.6, 1.4, (n, 1)) + rng.normal(0, 0.25, (n, T))
    return x.astype(np.float32), y.astype(np.int32)


Xtr, ytr = sample(16000)
Xte, yte = sample(2000)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(T, 96)
        self.b = nn.Linear(96, 96)
        self.c = nn.Linear(96, K)

    def __call__(self, x):
        return self.c(nn.gelu(self.b(nn.gelu(self.a(x)))))


mx.random.seed(1)
net = Net()                       # holds the float16 compute copy
master = tree_map(lambda p: p.astype(mx.float32), net.parameters())
velocity = tree_map(mx.zeros_like, master)
LR, MU, SCALE, BATCH, EPOCHS = 0.05, 0.9, 1024.0, 128, 6


def to_half(tree):
    return tree_map(lambda p: p.astype(mx.float16), tree)


def scaled_loss(model, x, y):
    logits = model(x.astype(mx.float16)).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean") * SCALE


grad_fn = nn.value_and_grad(net, scaled_loss)


def evaluate():
    net.update(to_half(master))
    logits = net(mx.array(Xte).astype(mx.float16)).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean")
    acc = mx.mean(mx.argmax(logits, -1) == mx.array(yte))
    return ce.item() / math.log(2), 100 * acc.item()


bits, acc = evaluate()
print(f"untrained: test {bits:.3f} bits/strike (uniform {math.log2(K):.3f}), accuracy {acc:.1f}%")
steps_per_epoch = len(ytr) // BATCH
skipped = 0
for ep in range(1, EPOCHS + 1):
    t0 = time.perf_counter()
    perm = rng.permutation(len(ytr))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        net.update(to_half(master))
        loss, g16 = grad_fn(net, Xtr_m[idx], ytr_m[idx])
        g = tree_map(lambda q: q.astype(mx.float32) / SCALE, g16)
        finite = all(bool(mx.all(mx.isfinite(v)).item()) for _, v in tree_flatten(g))
        if ep == 1 and i == 0:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            print(f"first step: {len(flat)} float32 master leaves, zero-gradient leaves: {zero or 'none'}, "
                  f"compute dtype {net.a.weight.dtype}")
        if not finite:                      # fp16 overflow: skip this step
            skipped += 1
            continue
        velocity = tree_map(lambda v, q: MU * v + q, velocity, g)
        master = tree_map(lambda p, v, q: p - LR * (q + MU * v), master, velocity, g)
        mx.eval(master, velocity, loss)
        run += loss.item() / SCALE
        if i % 10 == 0 or i == steps_per_epoch - 1:
            done = (i + 1) / steps_per_epoch
            bar = "#" * int(30 * done) + "." * (30 - int(30 * done))
            sys.stdout.write(f"\repoch {ep} [{bar}] {i + 1}/{steps_per_epoch} ce {run / (i + 1):.3f} nats")
            sys.stdout.flush()
    bits, acc = evaluate()
    sys.stdout.write(f"\repoch {ep}: train {run / steps_per_epoch / math.log(2):.3f} bits/strike, "
                     f"test {bits:.3f} bits/strike, accuracy {acc:.1f}%, skipped {skipped}, "
                     f"{time.perf_counter() - t0:.1f}s" + " " * 20 + "\n")
print(f"done: master dtype {master['a']['weight'].dtype}, test accuracy {acc:.1f}%")
