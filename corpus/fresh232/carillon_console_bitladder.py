"""Carillon practice console: which of 6 bells did the student strike?

64-sample strike-sensor trace per key press.  The classifier has to fit the
console's tiny controller, so it is trained down a bit ladder: 8 -> 4 -> 3 -> 2
bit weights (mx.quantize / mx.dequantize, group 32, straight-through).  Each
rung restarts the learning rate from 0.  A float net trained for the same
number of steps is reported beside it.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

BELLS = ["C4", "D4", "E4", "G4", "A4", "C5"]
LADDER = [(8, 300, False), (4, 300, True), (3, 300, True), (2, 500, True)]  # bits, steps, log


def strike_traces(n, rng):
    t = np.linspace(0, 1, 64, dtype=np.float32)
    y = rng.integers(0, 6, size=n)
    freq = np.array([5.0, 5.6, 6.3, 7.5, 8.4, 10.0])[y] * (1 + 0.02 * rng.normal(size=n))
    decay = rng.uniform(2.0, 5.0, size=n)
    force = rng.lognormal(0.0, 0.3, size=n)
    x = force[:, None] * np.exp(-decay[:, None] * t) * np.sin(2 * np.pi * freq[:, None] * t)
    x += 0.25 * rng.normal(size=x.shape)  # clapper rattle / sensor hiss
    return x.astype(np.float32), y.astype(np.int32)


class Ladder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(64, 128)
        self.l2 = nn.Linear(128, 128)
        self.l3 = nn.Linear(128, 6)
        self.bits = 0  # 0 = float

    def w(self, layer):
        if self.bits == 0:
            return layer.weight
        wq = mx.dequantize(*mx.quantize(layer.weight, group_size=32, bits=self.bits),
                           group_size=32, bits=self.bits)
        return layer.weight + mx.stop_gradient(wq - layer.weight)

    def __call__(self, x):
        h = nn.relu(x @ self.w(self.l1).T + self.l1.bias)
        h = nn.relu(h @ self.w(self.l2).T + self.l2.bias)
        return h @ self.w(self.l3).T + self.l3.bias


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def train(model, xtr, ytr, xva, yva, steps, rng, tag, log):
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1.5e-3, warm), optim.cosine_decay(1.5e-3, steps - warm, 2e-5)], [warm])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, ce)
    first = None
    for s in range(steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=128))
        loss, g = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if first is None:
            first = loss.item()
        if log and (s % 100 == 0 or s == steps - 1):
            print(f"  {tag} step {s:3d} lr {opt.learning_rate.item():.2e} loss {loss.item():.4f}"
                  f" val_acc {acc(model, xva, yva):.3f}")
    return first, loss.item()


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)
    xtr, ytr = strike_traces(9000, rng)
    xva, yva = strike_traces(2000, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    total = sum(s for _, s, _ in LADDER)

    t0 = time.time()
    ref = Ladder()
    mx.eval(ref.parameters())
    train(ref, xtr, ytr, xva, yva, total, rng, "float", log=False)
    ref_acc = acc(ref, xva, yva)
    print(f"float reference: {total} steps, val_acc {ref_acc:.3f} ({time.time() - t0:.1f}s)")

    model = Ladder()
    mx.eval(model.parameters())
    for bits, steps, log in LADDER:
        model.bits = bits
        entry = acc(model, xva, yva)
        first, last = train(model, xtr, ytr, xva, yva, steps, rng, f"{bits}b", log)
        print(f"rung {bits} bits: entry val_acc {entry:.3f}  first loss {first:.4f}"
              f"  last loss {last:.4f}  exit val_acc {acc(model, xva, yva):.3f}")

    kbytes = sum(m.weight.size for m in (model.l1, model.l2, model.l3)) * 2 / 8 / 1024
    print(f"2-bit net val_acc {acc(model, xva, yva):.3f} vs float {ref_acc:.3f}"
          f" | chance {1 / len(BELLS):.3f} | packed weights {kbytes:.1f} KiB")
    print(f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
