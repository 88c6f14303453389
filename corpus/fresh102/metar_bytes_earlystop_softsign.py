"""Next-byte model for airport weather reports (METAR-like lines).

Small training corpus on purpose: the model overfits, so we keep the weights of the
best validation epoch and restore them when patience runs out. Costs in bits per byte.
"""
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CTX = 8
rng = np.random.default_rng(7)
STATIONS = ["KJFK", "KBOS", "EGLL", "LFPG", "EDDF", "RJTT", "YSSY", "CYYZ", "KSEA", "LEMD"]
CLOUDS = ["FEW", "SCT", "BKN", "OVC"]


def report():
    st = STATIONS[rng.integers(len(STATIONS))]
    day, hr = rng.integers(1, 29), rng.integers(0, 24)
    wd = int(rng.integers(0, 36)) * 10
    ws = int(rng.integers(2, 28))
    wind = f"{wd:03d}{ws:02d}" + (f"G{ws + int(rng.integers(5, 15)):02d}" if ws > 15 and rng.random() < 0.6 else "") + "KT"
    vis = "10SM" if rng.random() < 0.7 else f"{int(rng.integers(1, 10))}SM"
    layers = " ".join(f"{CLOUDS[min(i + int(rng.integers(0, 2)), 3)]}{int(rng.integers(5, 40)) * 10:03d}"
                      for i in range(int(rng.integers(0, 3))))
    t = int(rng.integers(-5, 32))
    d = t - int(rng.integers(0, 12))
    fmt = lambda v: f"M{-v:02d}" if v < 0 else f"{v:02d}"
    alt = f"A{int(rng.integers(2950, 3060))}"
    parts = [st, f"{day:02d}{hr:02d}51Z", wind, vis] + ([layers] if layers else ["CLR"]) + [f"{fmt(t)}/{fmt(d)}", alt]
    return " ".join(parts) + "\n"


def windows(text, vocab):
    ids = np.array([vocab[c] for c in text], np.int32)
    idx = np.arange(CTX)[None, :] + np.arange(len(ids) - CTX)[:, None]
    return ids[idx], ids[CTX:]


train_text = "".join(report() for _ in range(140))
val_text = "".join(report() for _ in range(300))
test_text = "".join(report() for _ in range(300))
chars = sorted(set(train_text + val_text + test_text))
vocab = {c: i for i, c in enumerate(chars)}
V = len(chars)
xtr, ytr = windows(train_text, vocab)
xva, yva = windows(val_text, vocab)
xte, yte = windows(test_text, vocab)


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals
    return cotangent / mx.square(1 + mx.abs(x))


class ByteMLP(nn.Module):
    def __init__(self, vocab_size, dim=24, hidden=192):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = softsign(self.fc1(h))
        h = softsign(self.fc2(h))
        return self.out(h)


def nats(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bits_per_byte(model, x, y, chunk=4096):
    total = 0.0
    for i in range(0, len(y), chunk):
        xb, yb = mx.array(x[i:i + chunk]), mx.array(y[i:i + chunk])
        total += nn.losses.cross_entropy(model(xb), yb, reduction="sum").item()
    return total / len(y) / math.log(2)


# check the hand-written vjp against finite differences before using it
z = mx.array([-3.0, -0.4, 0.0, 0.7, 2.5])
g = mx.grad(lambda a: softsign(a).sum())(z)
fd = (softsign(z + 1e-3) - softsign(z - 1e-3)) / 2e-3
print(f"softsign vjp check: max |analytic - finite diff| = {mx.abs(g - fd).max().item():.2e}")

mx.random.seed(0)
model = ByteMLP(V)
opt = optim.Adam(learning_rate=optim.exponential_decay(2e-3, 0.9995))
state = [model.state, opt.state]

g0 = nn.value_and_grad(model, nats)(model, mx.array(xtr[:256]), mx.array(ytr[:256]))[1]
zero = [k for k, v in tree_flatten(g0) if not mx.any(v != 0).item()]
print(f"first-batch gradient: {len(tree_flatten(g0))} leaves, zero leaves: {zero if zero else 'none'}")


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, nats)(model, x, y)
    opt.update(model, grads)
    return loss


print(f"{len(train_text)} training bytes, {len(val_text)} validation bytes, vocabulary {V} "
      f"(uniform = {math.log2(V):.3f} bits/byte)")
print(f"untrained: val {bits_per_byte(model, xva, yva):.3f} bits/byte")

BATCH, PATIENCE, MAX_EPOCHS = 64, 4, 60
best_val, best_epoch, best_weights, bad = float("inf"), 0, None, 0
t0 = time.time()
for epoch in range(1, MAX_EPOCHS + 1):
    perm = rng.permutation(len(ytr))
    run = 0.0
    nb = 0
    for i in range(0, len(perm) - BATCH + 1, BATCH):
        idx = mx.array(perm[i:i + BATCH])
        loss = train_step(mx.array(xtr)[idx], mx.array(ytr)[idx])
        mx.eval(loss, state)
        run += loss.item()
        nb += 1
    train_bpb = run / nb / math.log(2)
    val_bpb = bits_per_byte(model, xva, yva)
    if val_bpb < best_val - 1e-4:
        best_val, best_epoch, bad = val_bpb, epoch, 0
        best_weights = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_weights)
        mark = "  * best so far"
    else:
        bad += 1
        mark = f"  (no gain {bad}/{PATIENCE})"
    sys.stdout.write(f"epoch {epoch:2d}  train {train_bpb:.3f} bpb  val {val_bpb:.3f} bpb  "
                     f"{time.time() - t0:5.1f}s{mark}\n")
    if bad >= PATIENCE:
        sys.stdout.write(f"stopping early after epoch {epoch}; restoring epoch {best_epoch}\n")
        break

model.update(best_weights)
mx.eval(model.parameters())
restored = bits_per_byte(model, xva, yva)
print(f"restored weights: val {restored:.3f} bits/byte (best recorded {best_val:.3f}), "
      f"test {bits_per_byte(model, xte, yte):.3f} bits/byte")
