"""Cordwainer's workshop: welt-seam outcome of a hand-welted shoe.

Three outcomes (0 sound, 1 squeaky, 2 split) from 7 workshop readings.
Stage A trains a float MLP.  Stage B compresses every weight matrix to a
4-entry shared table (2-bit codes, k-means on the trained weights).  Stage C
keeps the codes as they are and fine-tunes only the tables and the biases.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
N_TRAIN, N_VAL = 6000, 1500
N = N_TRAIN + N_VAL
upper_mm = rng.normal(1.9, 0.25, N)          # upper leather thickness
welt_mm = rng.normal(11.0, 1.2, N)           # welt width
spi = rng.normal(8.0, 1.5, N)                # stitches per inch
wax_g = rng.gamma(3.0, 0.6, N)               # thread wax used
moisture = rng.normal(14.0, 3.0, N)          # leather moisture %
toe_spring = rng.normal(9.0, 2.5, N)         # last toe spring mm
blocked_h = rng.exponential(10.0, N)         # hours wet-blocked on the last

score = (
    1.3 * np.tanh((moisture - 14.0) / 3.0)
    - 0.9 * np.tanh(wax_g - 1.5)
    + 0.6 * (spi - 8.0) / 1.5 * (upper_mm < 1.8)
    + 0.8 * np.sin((welt_mm - 11.0) / 1.2)
    + 0.5 * ((toe_spring - 9.0) / 2.5) ** 2
    - 0.4 * np.log1p(blocked_h) / 2.5
    + rng.normal(0.0, 0.35, N)
)
cuts = np.quantile(score[:N_TRAIN], [0.55, 0.80])
labels = np.digitize(score, cuts).astype(np.int32)

X = np.stack([upper_mm, welt_mm, spi, wax_g, moisture, toe_spring, np.log1p(blocked_h)], 1)
mu, sd = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
X = ((X - mu) / sd).astype(np.float32)

Xtr, ytr = mx.array(X[:N_TRAIN]), mx.array(labels[:N_TRAIN])
Xva, yva = mx.array(X[N_TRAIN:]), mx.array(labels[N_TRAIN:])
majority = float(np.mean(labels[N_TRAIN:] == np.bincount(labels[:N_TRAIN]).argmax()))
print(f"train {N_TRAIN}  val {N_VAL}  class shares {np.bincount(labels[:N_TRAIN]) / N_TRAIN}")
print(f"majority-class baseline accuracy (val): {majority:.3f}")


# ---------------------------------------------------------------- models
class WeltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(7, 96), nn.Linear(96, 96), nn.Linear(96, 3)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


class SharedLinear(nn.Module):
    """Linear layer whose weight is table[codes]; codes are not parameters."""

    def __init__(self, table, codes, bias):
        super().__init__()
        self.table = table
        self.bias = bias
        self._codes = codes

    def __call__(self, x):
        w = mx.take(self.table, self._codes)
        return x @ w.T + self.bias


class SharedWeltNet(nn.Module):
    def __init__(self, shared_layers):
        super().__init__()
        self.layers = shared_layers

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def run_epochs(model, opt, epochs, batch, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot, nb = 0.0, 0
        for i in range(0, N_TRAIN, batch):
            idx = perm[i : i + batch]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        va_loss = loss_fn(model, Xva, yva).item()
        lr = opt.learning_rate.item()
        print(f"[{tag}] epoch {ep:2d}  train_ce {tot / nb:.4f}  val_ce {va_loss:.4f}  "
              f"val_acc {accuracy(model, Xva, yva):.3f}  lr {lr:.2e}")


# ---------------------------------------------------------------- stage A: float
t0 = time.time()
BATCH = 128
EPOCHS_A = 14
steps_per_epoch = -(-N_TRAIN // BATCH)
total = EPOCHS_A * steps_per_epoch
warm = 120
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
float_net = WeltNet()
mx.eval(float_net.parameters())
run_epochs(float_net, optim.AdamW(learning_rate=schedule, weight_decay=1e-4), EPOCHS_A, BATCH, "float")
float_acc = accuracy(float_net, Xva, yva)
float_ce = loss_fn(float_net, Xva, yva).item()


# ---------------------------------------------------------------- stage B: shared tables
def kmeans_1d(values, k, iters=30):
    cent = np.linspace(values.min(), values.max(), k)
    for _ in range(iters):
        assign = np.abs(values[:, None] - cent[None, :]).argmin(1)
        for j in range(k):
            if np.any(assign == j):
                cent[j] = values[assign == j].mean()
    assign = np.abs(values[:, None] - cent[None, :]).argmin(1)
    return cent.astype(np.float32), assign.astype(np.uint32)


K = 4
shared = []
for li, layer in enumerate(float_net.layers):
    w = np.array(layer.weight)
    cent, assign = kmeans_1d(w.ravel(), K)
    shared.append(
        SharedLinear(mx.array(cent), mx.array(assign.reshape(w.shape)), mx.array(np.array(layer.bias)))
    )
    print(f"layer {li}: {w.size} weights -> {K}-entry table {np.round(cent, 4).tolist()}")
qnet = SharedWeltNet(shared)
codes_before = [np.array(l._codes) for l in qnet.layers]
n_float = sum(v.size for _, v in nn.utils.tree_flatten(float_net.parameters()))
n_shared = sum(v.size for _, v in nn.utils.tree_flatten(qnet.trainable_parameters()))
print(f"trainable values: float {n_float} -> shared {n_shared}")
clustered_acc = accuracy(qnet, Xva, yva)
clustered_ce = loss_fn(qnet, Xva, yva).item()
print(f"right after compression: val_ce {clustered_ce:.4f}  val_acc {clustered_acc:.3f} "
      f"(float was {float_ce:.4f} / {float_acc:.3f})")

# ---------------------------------------------------------------- stage C: tune tables
run_epochs(qnet, optim.Adam(learning_rate=2e-3), 8, BATCH, "tables")
changed = sum(int(np.sum(np.array(l._codes) != c)) for l, c in zip(qnet.layers, codes_before))
distinct = [int(np.unique(np.array(mx.take(l.table, l._codes))).size) for l in qnet.layers]
tuned_acc = accuracy(qnet, Xva, yva)
print(f"codes changed during tuning: {changed}  distinct weight values per layer: {distinct}")
print(f"summary val_acc  majority {majority:.3f} | float {float_acc:.3f} | "
      f"2-bit shared, untuned {clustered_acc:.3f} | 2-bit shared, tuned {tuned_acc:.3f}")
print(f"done in {time.time() - t0:.1f}s")
