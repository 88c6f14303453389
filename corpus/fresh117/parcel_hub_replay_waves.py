"""Parcel sorting centre: route parcels to destination hubs, learned wave by wave.

The sorter's scanner gives 8 readings per parcel (postcode-region embedding
coordinates, weight, volume, label contrast, ...). Hubs come online in three
waves: wave 1 opens hubs A,B; wave 2 adds C,D; wave 3 adds E,F. Each wave
only ships parcels for its own new hubs, so the classifier keeps a small
reservoir-sampled replay buffer of past parcels (it grows up to its cap and
then holds) and mixes it into every minibatch.

Reported after each wave: the accuracy matrix row (accuracy on every wave's
test parcels seen so far) and the average forgetting.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

HUBS = "ABCDEF"
WAVES = [(0, 1), (2, 3), (4, 5)]
N_FEAT = 8
PER_HUB_TRAIN = 3000
PER_HUB_TEST = 400
BUFFER_CAP = 2400
ADD_PER_BATCH = 8           # parcels from each minibatch offered to the buffer
EPOCHS = 8
BATCH = 64
REPLAY_PER_BATCH = 32

rng = np.random.default_rng(2024)
mx.random.seed(2024)

# each hub has a prototype parcel profile; parcels scatter around it
protos = rng.normal(0, 1.0, (len(HUBS), N_FEAT)).astype(np.float32)
mix = rng.normal(0, 1.0 / np.sqrt(N_FEAT), (N_FEAT, N_FEAT)).astype(np.float32)


def parcels(hub, n):
    x = protos[hub] + 0.9 * rng.standard_normal((n, N_FEAT)).astype(np.float32)
    x = np.tanh(x @ mix) + 0.5 * x         # scanner nonlinearity
    return x.astype(np.float32), np.full(n, hub, np.int32)


def wave_data(hubs, n):
    xs, ys = zip(*(parcels(h, n) for h in hubs))
    return np.concatenate(xs), np.concatenate(ys)


train_sets = [wave_data(w, PER_HUB_TRAIN) for w in WAVES]
test_sets = [wave_data(w, PER_HUB_TEST) for w in WAVES]


class Router(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 256), nn.ReLU(),
                                  nn.Linear(256, 256), nn.ReLU())
        self.head = nn.Linear(256, len(HUBS))

    def __call__(self, x):
        return self.head(self.body(x))


class ReplayBuffer:
    """Reservoir sampling over every parcel seen so far (numpy storage)."""

    def __init__(self, cap):
        self.cap, self.seen = cap, 0
        self.x = np.zeros((cap, N_FEAT), np.float32)
        self.y = np.zeros(cap, np.int32)

    def __len__(self):
        return min(self.seen, self.cap)

    def add(self, xb, yb):
        for xi, yi in zip(xb, yb):
            if self.seen < self.cap:
                j = self.seen
            else:
                j = rng.integers(0, self.seen + 1)
            if j < self.cap:
                self.x[j], self.y[j] = xi, yi
            self.seen += 1

    def sample(self, k):
        idx = rng.integers(0, len(self), k)
        return self.x[idx], self.y[idx]


model = Router()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def accuracy(x, y):
    pred = mx.argmax(model(mx.array(x)), axis=1)
    return float(mx.mean(pred == mx.array(y)).item())


buf = ReplayBuffer(BUFFER_CAP)
acc_matrix = np.full((len(WAVES), len(WAVES)), np.nan)
t0 = time.perf_counter()
first = True
print(f"hubs {HUBS}, waves {[''.join(HUBS[h] for h in w) for w in WAVES]}, "
      f"replay cap {BUFFER_CAP}, {EPOCHS} epochs per wave")

for w, (xtr, ytr) in enumerate(train_sets):
    n = len(ytr)
    print(f"\n== wave {w + 1}: hubs {''.join(HUBS[h] for h in WAVES[w])} open, {n} parcels ==")
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(n)
        losses = []
        for s in range(0, n - BATCH + 1, BATCH):
            idx = perm[s:s + BATCH]
            xb, yb = xtr[idx], ytr[idx]
            if len(buf) > 0:
                rx, ry = buf.sample(REPLAY_PER_BATCH)
                xm, ym = np.concatenate([xb, rx]), np.concatenate([yb, ry])
            else:
                xm, ym = xb, yb
            loss, grads = loss_and_grad(model, mx.array(xm), mx.array(ym))
            if first:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if not mx.any(g != 0).item()]
                print(f"   step 1 gradient check: {len(flat)} leaves, zero leaves {dead}")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
            buf.add(xb[:ADD_PER_BATCH], yb[:ADD_PER_BATCH])
        seen_acc = [accuracy(*test_sets[k]) for k in range(w + 1)]
        print(f"   epoch {ep}: train ce {np.mean(losses):.3f}   replay {len(buf)}/{BUFFER_CAP}"
              f"   test acc per wave " + " ".join(f"{a:.1%}" for a in seen_acc)
              + f"   ({time.perf_counter() - t0:.1f}s)")
    for k in range(w + 1):
        acc_matrix[w, k] = accuracy(*test_sets[k])
    if w > 0:
        forgetting = np.mean([np.nanmax(acc_matrix[:w, k]) - acc_matrix[w, k] for k in range(w)])
        print(f"   avg forgetting on earlier waves: {100 * forgetting:.1f} points")

print("\naccuracy matrix (row = after wave, column = test parcels of wave):")
print("          " + "".join(f"  wave{k + 1}" for k in range(len(WAVES))))
for r in range(len(WAVES)):
    cells = "".join(f"  {acc_matrix[r, k]:5.1%}" if not np.isnan(acc_matrix[r, k]) else "      ."
                    for k in range(len(WAVES)))
    print(f"after w{r + 1} " + cells)
xall = np.concatenate([t[0] for t in test_sets])
yall = np.concatenate([t[1] for t in test_sets])
print(f"\nall six hubs: {accuracy(xall, yall):.1%} routed correctly (chance {1 / len(HUBS):.1%}),"
      f" total {time.perf_counter() - t0:.1f}s")
