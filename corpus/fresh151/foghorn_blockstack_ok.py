# Foghorn audibility: predict at which of 4 range bands a ship's watch first hears
# the station's horn, from 10 weather / sea readings (synthetic).
# Residual MLP with BatchNorm blocks; the blocks live in a small ModuleList helper.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, D_IN, N_CLS = 6000, 10, 4


def make_data(n):
    x = rng.normal(size=(n, D_IN)).astype(np.float32)
    # humidity, wind, temperature inversion, swell ... mixed by a made-up law
    score = (1.3 * np.tanh(x[:, 0] * x[:, 1]) - 0.9 * x[:, 2] + 0.7 * np.sin(2 * x[:, 3])
             + 0.5 * x[:, 4] * x[:, 5] - 0.4 * np.abs(x[:, 6]) + 0.2 * rng.normal(size=n))
    y = np.digitize(score, np.quantile(score, [0.25, 0.5, 0.75])).astype(np.int32)
    return mx.array(x), mx.array(y)


x_tr, y_tr = make_data(N)
x_va, y_va = make_data(1500)


class BlockStack:
    """Minimal ModuleList: keeps the blocks in order so we can loop over them."""

    def __init__(self, blocks):
        self._blocks = list(blocks)

    def __iter__(self):
        return iter(self._blocks)

    def __len__(self):
        return len(self._blocks)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, d)
        self.bn = nn.BatchNorm(d)

    def __call__(self, x):
        return x + nn.relu(self.bn(self.lin(x)))


class HornNet(nn.Module):
    def __init__(self, d_in, d, n_blocks, n_cls):
        super().__init__()
        self.stem = nn.Linear(d_in, d)
        self.blocks = [Block(d) for _ in range(n_blocks)]
        self.head = nn.Linear(d, n_cls)

    def __call__(self, x):
        h = nn.relu(self.stem(x))
        for blk in self.blocks:
            h = blk(h)
        return self.head(h)


mx.random.seed(3)
model = HornNet(D_IN, 64, 4, N_CLS)
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
BS = 200
t0 = time.time()
for epoch in range(1, 41):
    perm = mx.array(rng.permutation(N))
    tot = 0.0
    for i in range(0, N, BS):
        idx = perm[i:i + BS]
        loss, grads = step(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch % 4 == 0:
        model.eval()
        acc = (mx.argmax(model(x_va), axis=1) == y_va).astype(mx.float32).mean().item()
        model.train()
        print(f"ep {epoch:02d} | xent {tot / (N // BS):.4f} | val acc {100 * acc:5.1f}% "
              f"| active {mx.get_active_memory() / 2**20:7.1f} MB | {time.time() - t0:5.1f}s",
              flush=True)
print("done")
