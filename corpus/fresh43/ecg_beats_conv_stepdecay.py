# Heartbeat morphology classification on synthetic ECG beats (normal / ventricular /
# missing-P) with a small 1-D CNN, SGD+momentum and a hand-set step-decay schedule.
# One line per epoch; a confusion matrix on the held-out set at the end.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L = 160
CLASSES = ["normal", "ventric", "no-P"]
rng = np.random.default_rng(5)
t = np.linspace(0, 1, L)


def wave(c, w, a):
    return a * np.exp(-0.5 * ((t - c) / w) ** 2)


def beat(k):
    s = rng.uniform(0.9, 1.1)
    x = np.zeros(L)
    if k != 2:
        x += wave(0.22 * s, 0.025, rng.uniform(0.18, 0.32))           # P
    if k == 1:
        x += wave(0.42, rng.uniform(0.035, 0.05), rng.uniform(0.8, 1.3))  # wide QRS
        x += wave(0.62, 0.06, -rng.uniform(0.25, 0.4))                 # inverted T
    else:
        x += wave(0.40, 0.010, rng.uniform(0.8, 1.3))                  # narrow R
        x += wave(0.37, 0.008, -0.12) + wave(0.43, 0.008, -0.18)       # Q, S
        x += wave(0.66, 0.045, rng.uniform(0.2, 0.35))                 # T
    x += 0.08 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6))  # wander
    x += rng.normal(0, 0.07, L)
    return x


def dataset(n, probs=(0.6, 0.25, 0.15)):
    y = rng.choice(3, size=n, p=probs)
    X = np.stack([beat(k) for k in y]).astype(np.float32)[..., None]   # (N, L, 1)
    return X, y.astype(np.int32)


Xtr, ytr = dataset(2400)
Xte, yte = dataset(900, probs=(1 / 3, 1 / 3, 1 / 3))


class BeatCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, 7, padding=3, stride=2)
        self.c2 = nn.Conv1d(12, 24, 5, padding=2, stride=2)
        self.c3 = nn.Conv1d(24, 24, 5, padding=2)
        self.head = nn.Linear(24 * (L // 4), 3)

    def __call__(self, x):
        x = nn.silu(self.c1(x))
        x = nn.silu(self.c2(x))
        x = nn.silu(self.c3(x))
        return self.head(x.reshape(x.shape[0], -1))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def balanced_acc(pred, y):
    return float(np.mean([(pred[y == k] == k).mean() for k in range(3)]))


model = BeatCNN()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

_, g = vg(model, mx.array(Xtr[:64]), mx.array(ytr[:64]))
zero = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
print(f"grad check: {len(tree_flatten(g)) - len(zero)}/{len(tree_flatten(g))} leaves non-zero")

EPOCHS, BS = 12, 32
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    lr = 0.02 * (0.3 ** (ep > 6)) * (0.3 ** (ep > 10))
    opt.learning_rate = lr
    perm = rng.permutation(len(Xtr))
    losses = []
    for i in range(0, len(perm) - BS + 1, BS):
        b = perm[i:i + BS]
        loss, g = vg(model, mx.array(Xtr[b]), mx.array(ytr[b]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    pred = np.concatenate([np.array(mx.argmax(model(mx.array(Xte[i:i + 300])), axis=1))
                           for i in range(0, len(Xte), 300)])
    print(f"ep {ep:02d} · lr {lr:.4f} · train xent {np.mean(losses):.4f} · "
          f"test bal-acc {balanced_acc(pred, yte):.3f} · {time.time() - t0:5.1f}s", flush=True)

cm = np.zeros((3, 3), int)
for a, b in zip(yte, pred):
    cm[a, b] += 1
print("\nconfusion (rows = true, cols = predicted):")
print(" " * 9 + "".join(f"{c:>9}" for c in CLASSES))
for k, c in enumerate(CLASSES):
    print(f"{c:>9}" + "".join(f"{v:>9d}" for v in cm[k]))
print(f"chance balanced accuracy: {1 / 3:.3f}; train xent at chance: {math.log(3):.3f}")
