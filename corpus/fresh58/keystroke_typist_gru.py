"""Who is typing? Identify one of 5 typists from keystroke timing.

Each sample is a 24-keystroke burst: (dwell ms, flight ms, is_shift) per key.
Every typist has a personal rhythm (mean dwell, mean flight, a habit of
pausing after every k-th key, shift slowness). A GRU reads the burst and
classifies the typist.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
N_TYPISTS, SEQ = 5, 24

PROFILES = [  # dwell_mu, flight_mu, pause_every, pause_ms, shift_extra
    (95, 140, 5, 120, 40),
    (80, 120, 4, 160, 90),
    (110, 135, 6, 90, 30),
    (90, 115, 3, 140, 60),
    (100, 150, 7, 180, 20),
]


def make_bursts(n):
    X = np.zeros((n, SEQ, 3), np.float32)
    y = rng.integers(0, N_TYPISTS, n)
    for i in range(n):
        d_mu, f_mu, every, pause, shift_extra = PROFILES[y[i]]
        speed = rng.normal(1.0, 0.08)  # tired / awake today
        off = rng.integers(0, every)
        shift = (rng.random(SEQ) < 0.12).astype(np.float32)
        dwell = rng.normal(d_mu, 22, SEQ) * speed + shift * shift_extra
        flight = rng.normal(f_mu, 35, SEQ) * speed
        flight[(np.arange(SEQ) + off) % every == 0] += pause
        X[i, :, 0] = dwell / 100.0
        X[i, :, 1] = flight / 100.0
        X[i, :, 2] = shift
    return X, y.astype(np.int32)


class TypistNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.inp = nn.Linear(3, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.head = nn.Linear(hidden, N_TYPISTS)

    def __call__(self, x):
        h = self.gru(nn.relu(self.inp(x)))
        return self.head(h.mean(axis=1))


Xtr, ytr = make_bursts(2400)
Xva, yva = make_bursts(600)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

model = TypistNet()
mx.eval(model.parameters())

EPOCHS, BS = 14, 64
steps_per_epoch = Xtr.shape[0] // BS
total = EPOCHS * steps_per_epoch
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(1e-4, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# first-step gradient sanity check
_, g0 = loss_and_grad(model, Xtr[:BS], ytr[:BS])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"gradcheck: {len(tree_flatten(g0))} leaves, zero-grad leaves: {dead or 'none'}")

state = [model.state, opt.state]


def train_step(xb, yb):
    loss, grads = loss_and_grad(model, xb, yb)
    opt.update(model, grads)
    return loss


train_step = mx.compile(train_step, inputs=state, outputs=state)


def accuracy(X, y):
    return float((mx.argmax(model(X), axis=1) == y).astype(mx.float32).mean())


print(f"chance level: {100.0 / N_TYPISTS:.1f}%")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * BS:(s + 1) * BS]
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state)
        run += loss.item()
    va = accuracy(Xva, yva)
    print(f"ep {ep:02d} | train ce {run / steps_per_epoch:.4f} | val acc {100 * va:5.1f}% "
          f"| lr {opt.learning_rate.item():.2e} | {time.time() - t0:5.1f}s")

pred = np.array(mx.argmax(model(Xva), axis=1))
yv = np.array(yva)
print("per-typist val accuracy: " + "  ".join(
    f"T{k}={100 * (pred[yv == k] == k).mean():.0f}%" for k in range(N_TYPISTS)))
