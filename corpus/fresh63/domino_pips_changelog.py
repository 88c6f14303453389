# Count the total pips on a noisy rendered domino tile (0..12) with a tiny CNN.
# Progress is kept as a Debian changelog, one entry per epoch.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
H, W = 9, 18  # two 9x9 halves

# pip layouts on a 3x3 grid (row, col) for 0..6
LAYOUT = {
    0: [], 1: [(1, 1)], 2: [(0, 0), (2, 2)], 3: [(0, 0), (1, 1), (2, 2)],
    4: [(0, 0), (0, 2), (2, 0), (2, 2)], 5: [(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)],
    6: [(0, 0), (0, 2), (1, 0), (1, 2), (2, 0), (2, 2)],
}


def render(a, b):
    img = np.zeros((H, W), np.float32)
    for half, n in enumerate((a, b)):
        flip = rng.random() < 0.5
        for (r, c) in LAYOUT[n]:
            if flip:
                r, c = c, r
            y = 1 + 3 * r + rng.integers(-1, 1)
            x = half * 9 + 1 + 3 * c + rng.integers(-1, 1)
            img[max(y, 0):y + 2, max(x, 0):x + 2] = 1.0
    img *= rng.uniform(0.6, 1.2)
    img += rng.normal(0, 0.25, img.shape).astype(np.float32)
    img[:, 8:10] += 0.5  # the divider bar
    return img


def make(n):
    a = rng.integers(0, 7, n)
    b = rng.integers(0, 7, n)
    X = np.stack([render(i, j) for i, j in zip(a, b)])[..., None]
    return X.astype(np.float32), (a + b).astype(np.int32)


Xtr, ytr = make(2000)
Xva, yva = make(400)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class PipCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.head = nn.Sequential(nn.Linear(32 * 2, 64), nn.ReLU(), nn.Linear(64, 13))

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        left = h[:, :, :9, :].mean(axis=(1, 2))
        right = h[:, :, 9:, :].mean(axis=(1, 2))
        return self.head(mx.concatenate([left, right], axis=-1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(7)
model = PipCounter()
mx.eval(model.parameters())
opt = optim.Adafactor(learning_rate=1e-2, relative_step=False, scale_parameter=False)
step = nn.value_and_grad(model, loss_fn)

# first-step gradient audit
_, g0 = step(model, Xtr[:64], ytr[:64])
from mlx.utils import tree_flatten
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
t0 = time.time()
print(f"domino-pips (0.0-1) unstable; urgency=low\n\n  * init: {len(flat)} gradient leaves, zero leaves: {zero or 'none'}\n"
      f"  * chance accuracy ~{1/13:.3f}\n\n -- trainer <trainer@localhost>  epoch 0\n")

B = 64
for epoch in range(1, 7):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot, nb = 0.0, 0
    for i in range(0, Xtr.shape[0], B):
        idx = perm[i:i + B]
        loss, grads = step(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    logits = model(Xva)
    vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    acc = (mx.argmax(logits, axis=-1) == yva).mean().item()
    off1 = (mx.abs(mx.argmax(logits, axis=-1) - yva) <= 1).mean().item()
    print(f"domino-pips (0.{epoch}-1) unstable; urgency=low\n\n"
          f"  * train_ce={tot/nb:.4f} val_ce={vce:.4f}\n"
          f"  * val_acc={acc:.3f} within_one_pip={off1:.3f}\n\n"
          f" -- trainer <trainer@localhost>  {time.time()-t0:.1f}s\n")
