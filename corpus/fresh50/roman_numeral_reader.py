"""Read a Roman numeral (1..399) character by character and regress its value.

Embedding -> GRU -> Linear on the last hidden state. Numerals are left-padded so the
final time step is always the last real character. Target is value/400 (MSE).
Optimizer: AdamW with a linear warmup joined to a cosine decay.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
rng = np.random.default_rng(7)

VOCAB = {"<pad>": 0, "I": 1, "V": 2, "X": 3, "L": 4, "C": 5}
MAXLEN = 12
TABLE = [(100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    out = ""
    for v, s in TABLE:
        while n >= v:
            out += s
            n -= v
    return out


def encode(nums):
    arr = np.zeros((len(nums), MAXLEN), dtype=np.int32)
    for r, n in enumerate(nums):
        s = to_roman(int(n))
        arr[r, MAXLEN - len(s):] = [VOCAB[c] for c in s]
    return mx.array(arr)


all_n = np.arange(1, 400)
held = rng.choice(all_n, size=60, replace=False)
train_n = np.setdiff1d(all_n, held)
x_val, y_val = encode(held), mx.array(held.astype(np.float32) / 400.0)


class Reader(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), 16)
        self.rnn = nn.GRU(16, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.rnn(self.emb(x))
        return self.head(h[:, -1, :]).squeeze(-1)


model = Reader()
mx.eval(model.parameters())
steps = 1200
sched = optim.join_schedules([optim.linear_schedule(1e-4, 4e-3, 100),
                              optim.cosine_decay(4e-3, steps - 100, 2e-4)], [100])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)

# first-step gradient check
xb0 = encode(rng.choice(train_n, 64))
_, g0 = vg(model, xb0, mx.array(np.zeros(64, np.float32)))
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"grad check: {len(flat)} leaves, zero leaves: {dead if dead else 'none'}")
print(f"baseline: predict-the-mean abs error = {np.mean(np.abs(held - train_n.mean())):.1f}")

t0 = time.time()
window = []
for step in range(1, steps + 1):
    nb = rng.choice(train_n, 64)
    loss, grads = vg(model, encode(nb), mx.array(nb.astype(np.float32) / 400.0))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 200 == 0:
        pred = np.array(model(x_val)) * 400.0
        mae = float(np.mean(np.abs(pred - held)))
        exact = float(np.mean(np.rint(pred) == held)) * 100
        print(f"step {step:4d}/{steps}: train mse {np.mean(window):.2e}, "
              f"held-out MAE {mae:.2f} (in units), exact {exact:.0f}%, "
              f"lr {opt.learning_rate.item():.1e}, {time.time() - t0:.1f}s")
        window = []

pred = np.array(model(x_val)) * 400.0
for n, p in list(zip(held, pred))[:6]:
    print(f"  {to_roman(int(n)):>10s} = {n:3d}  read as {p:7.2f}")
