# Echo-sounder trace cleanup: a small 1-D conv net learns to remove speckle
# from synthetic sonar depth traces. Each optimizer step accumulates three
# micro-batches of unequal size (24, 24, 16 traces), weighted by trace count.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(7)
L = 64
NOISE = 0.15


def make_traces(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    t = mx.arange(L).astype(mx.float32)[None, :] / L
    freq = mx.random.uniform(1.0, 3.0, (n, 1), key=k1)
    phase = mx.random.uniform(0.0, 6.28, (n, 1), key=k2)
    clean = 0.6 * mx.sin(2 * math.pi * freq * t + phase)
    noisy = clean + NOISE * mx.random.normal((n, L), key=k3)
    return noisy[..., None], clean[..., None]


class Cleaner(nn.Module):
    def __init__(self, ch=24):
        super().__init__()
        self.c1 = nn.Conv1d(1, ch, 5, padding=2)
        self.c2 = nn.Conv1d(ch, ch, 5, padding=2)
        self.c3 = nn.Conv1d(ch, 1, 5, padding=2)

    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = nn.silu(self.c2(h))
        return x + self.c3(h)


def sum_sq(model, x, y):
    return mx.sum(mx.mean((model(x) - y) ** 2, axis=(1, 2)))


model = Cleaner()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
grad_fn = nn.value_and_grad(model, sum_sq)

vx, vy = make_traces(256, mx.random.key(99))
raw_mse = mx.mean((vx - vy) ** 2).item()
print(f"valid raw trace mse {raw_mse:.5f}  (noise variance {NOISE**2:.5f})")

SIZES = [24, 24, 16]
STAGES = [(2e-3, 150), (5e-4, 150), (1e-4, 100)]
key = mx.random.key(1)
step = 0
t0 = time.time()
for si, (lr, n_steps) in enumerate(STAGES):
    opt.learning_rate = lr
    print(f"stage {si + 1}: lr {lr:.0e} for {n_steps} steps")
    for _ in range(n_steps):
        acc = None
        total = 0.0
        count = 0
        for n in SIZES:
            key, sub = mx.random.split(key)
            x, y = make_traces(n, sub)
            loss, g = grad_fn(model, x, y)
            acc = g if acc is None else tree_map(mx.add, acc, g)
            total = total + loss
            count += n
        acc = tree_map(lambda a: a / count, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, total)
        step += 1
        if step % 50 == 0:
            vm = mx.mean((model(vx) - vy) ** 2).item()
            gain_db = 10 * math.log10(vm / raw_mse)
            print(f"step {step:4d} train mse {total.item() / count:.5f} "
                  f"valid mse {vm:.5f} change vs raw {gain_db:+.2f} dB")

vm = mx.mean((model(vx) - vy) ** 2).item()
print(f"final valid mse {vm:.5f} vs raw {raw_mse:.5f} "
      f"({10 * math.log10(vm / raw_mse):+.2f} dB) in {time.time() - t0:.1f}s")
